#include "vision/core/error.hpp"

namespace vision {

namespace {
struct CodeInfo {
  const char* name;
  int exit_code;
  int http_status;
};

CodeInfo info(ErrorCode code) {
  switch (code) {
    case ErrorCode::config: return {"config", 2, 400};
    case ErrorCode::usage: return {"usage", 2, 400};
    case ErrorCode::not_found: return {"not_found", 1, 404};
    case ErrorCode::invalid_data: return {"invalid_data", 1, 400};
    case ErrorCode::io: return {"io", 1, 500};
    case ErrorCode::runtime: return {"runtime", 1, 500};
    case ErrorCode::not_implemented: return {"not_implemented", 1, 501};
    case ErrorCode::not_in_build: return {"not_in_build", 3, 501};
    case ErrorCode::export_failed: return {"export_failed", 4, 500};
    case ErrorCode::interrupted: return {"interrupted", 130, 503};
    case ErrorCode::unauthorized: return {"unauthorized", 1, 401};
    case ErrorCode::payload_too_large: return {"payload_too_large", 1, 413};
    case ErrorCode::rate_limited: return {"rate_limited", 1, 429};
  }
  return {"runtime", 1, 500};
}
}  // namespace

int exit_code(ErrorCode code) { return info(code).exit_code; }
int http_status(ErrorCode code) { return info(code).http_status; }
const char* error_code_name(ErrorCode code) { return info(code).name; }

}  // namespace vision
