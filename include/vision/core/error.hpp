// One error type for the whole project, and the one table that maps its codes to a CLI exit
// code and an HTTP status (SPEC section 2).
#pragma once

#include <expected>
#include <stdexcept>
#include <string>

namespace vision {

enum class ErrorCode {
  config,             // bad config file or value: exit 2
  usage,              // bad command line: exit 2
  not_found,          // a file or folder the run needs is missing: exit 1
  invalid_data,       // a record, label or image that fails validation: exit 1
  io,                 // reading or writing failed: exit 1
  runtime,            // anything else that ends a run: exit 1
  not_implemented,    // a backend that a later version delivers: exit 1
  not_in_build,       // a component this build leaves out (e.g. no LibTorch): exit 3
  export_failed,      // a training finished and kept its checkpoints, its export failed: exit 4
  interrupted,        // SIGINT / SIGTERM: exit 130
  unauthorized,       // HTTP 401
  payload_too_large,  // HTTP 413
  rate_limited,       // HTTP 429
};

struct Error {
  ErrorCode code = ErrorCode::runtime;
  std::string message;
};

template <class T>
using Expected = std::expected<T, Error>;

inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

// Exit code of the `vision` process for an error of this code.
int exit_code(ErrorCode code);
// HTTP status for an error of this code.
int http_status(ErrorCode code);
// Stable lower-case name, e.g. "not_found".
const char* error_code_name(ErrorCode code);

// For failures that end an operation deep inside a module; caught once at the facade.
class VisionError : public std::runtime_error {
 public:
  explicit VisionError(Error error)
      : std::runtime_error(error.message), m_error(std::move(error)) {}
  VisionError(ErrorCode code, std::string message) : VisionError(Error{code, std::move(message)}) {}
  const Error& error() const { return m_error; }

 private:
  Error m_error;
};

// Unwraps an Expected or throws its error; for code paths where a failure ends the operation.
template <class T>
T value_or_throw(Expected<T> result) {
  if (!result) throw VisionError(std::move(result.error()));
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

}  // namespace vision
