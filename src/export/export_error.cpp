// The export's one list of exceptions it converts, most specific first.
#include "export_error.hpp"

#include <onnxruntime_cxx_api.h>

#include <exception>
#include <filesystem>

#include <opencv2/core.hpp>

namespace vision {

Error export_error(const std::string& step) {
  try {
    throw;
  } catch (const VisionError& e) {
    return e.error();
  } catch (const std::filesystem::filesystem_error& e) {
    return {ErrorCode::io, step + " failed: " + e.what()};
  } catch (const Ort::Exception& e) {
    return {ErrorCode::runtime, step + " failed in ONNX Runtime: " + e.what()};
  } catch (const cv::Exception& e) {
    return {ErrorCode::runtime, step + " failed in OpenCV: " + e.what()};
  } catch (const std::exception& e) {
    return {ErrorCode::runtime, step + " failed: " + e.what()};
  } catch (...) {
    return {ErrorCode::runtime, step + " failed: an unknown exception"};
  }
}

}  // namespace vision
