// Export of the YOLOv8-style detector to ONNX, written node by node with the ONNX protobuf
// classes (there is no torch.onnx in C++). The graph is the layout Ultralytics exports:
//   input  `images`  float32 [N, 3, H, W] (N dynamic)
//   output `output0` float32 [N, 4 + nc, A]: cx, cy, w, h in input pixels, then class scores
// with Conv+BN fused, SiLU as Sigmoid·Mul, the DFL as Softmax + a 1×1 Conv, and the anchor /
// stride decode as precomputed constants; metadata_props names, stride, imgsz, task, batch,
// vision_version and the run id. This header is free of LibTorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "vision/core/error.hpp"
#include "vision/train/yolo_model.hpp"

namespace vision {

struct OnnxExportOptions {
  std::filesystem::path output;          // model.onnx
  int img_height = 640;
  int img_width = 640;
  int opset = 17;
  std::vector<std::string> class_names;  // written to metadata `names`
  std::string run_id;
};

// The Ultralytics `names` metadata text: "{0: 'circle', 1: 'square'}".
std::string ultralytics_names_text(const std::vector<std::string>& names);

// Exports a freshly initialised model (random weights, seeded); for benchmarks that need a
// model of a given size before any training has happened.
Expected<void> export_untrained_yolo(const YoloModelOptions& model, const OnnxExportOptions& options, std::uint64_t seed);

}  // namespace vision
