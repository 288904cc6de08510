// The exception being handled as a vision::Error, for the catch (...) that closes a module
// facade or a worker thread: nothing a library throws (OpenCV, ONNX Runtime, nlohmann::json,
// std::filesystem) escapes a facade, and no exception ends the process from a thread.
#pragma once

#include <exception>
#include <filesystem>
#include <string>

#include "vision/core/error.hpp"

namespace vision {

// Call inside a catch block only. A VisionError keeps its error; a filesystem error is
// ErrorCode::io; anything else ErrorCode::runtime, its message led by `context` (what failed).
inline Error error_from_current_exception(const std::string& context) {
  try {
    throw;
  } catch (const VisionError& e) {
    return e.error();
  } catch (const std::filesystem::filesystem_error& e) {
    return {ErrorCode::io, context + ": " + e.what()};
  } catch (const std::exception& e) {
    return {ErrorCode::runtime, context + ": " + e.what()};
  } catch (...) {
    return {ErrorCode::runtime, context + ": unknown exception"};
  }
}

}  // namespace vision
