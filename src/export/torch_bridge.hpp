// The one place where LibTorch meets the ONNX writer: walks a YoloDetector and emits its
// graph. Private to src/export (tests of the export include it to compare both sides).
#pragma once

#include "vision/export/onnx_export.hpp"

namespace vision::train {
struct YoloDetectorImpl;
}  // namespace vision::train

namespace vision::onnx_export {

// Writes `model` (in eval mode) as ONNX; the model itself is not changed.
Expected<void> write_yolo_onnx(train::YoloDetectorImpl& model, const OnnxExportOptions& options);

}  // namespace vision::onnx_export
