// Export of a Faster R-CNN model (vision::train::faster_rcnn) to ONNX with Vision's writer: the
// whole eval forward in one graph, standard ONNX operators only (opset 16 or later, for RoiAlign's
// coordinate_transformation_mode):
//   input   `images` float32 [1, 3, H, W], H and W free, RGB in 0..1 (the frame as it is)
//   outputs `boxes`  float32 [K, 4] x1 y1 x2 y2 in the input's pixels
//           `labels` int64 [K], 1-based (0 = background), `scores` float32 [K], highest first
// Private to src/export; this header is free of LibTorch.
#pragma once

#include "vision/export/onnx_export.hpp"

namespace vision::train::faster_rcnn {
struct FasterRcnnImpl;
}  // namespace vision::train::faster_rcnn

namespace vision::onnx_export {

// Writes `model` (its weights and its options: transform, RPN and RoI-head thresholds) as ONNX;
// the model itself is not changed. options.img_height is written as the `imgsz` metadata.
Expected<void> write_faster_rcnn_onnx(train::faster_rcnn::FasterRcnnImpl& model,
                                      const OnnxExportOptions& options);

}  // namespace vision::onnx_export
