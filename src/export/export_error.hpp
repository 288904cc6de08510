// How the export's facades (export_model, check_export_parity, quantize_onnx,
// export_untrained_yolo) turn the exception that ended them into a vision::Error.
#pragma once

#include <string>

#include "vision/core/error.hpp"

namespace vision {

// A VisionError as it is; any other exception (std::filesystem, ONNX Runtime, OpenCV, the
// standard library) with `step` and the library's own words. Call it only inside a catch block.
Error export_error(const std::string& step);

}  // namespace vision
