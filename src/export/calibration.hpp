// Activation ranges for static quantization: the FP32 model runs in ONNX Runtime over the
// letterboxed calibration images with every tensor of interest added as a graph output. Min-max
// takes the extremes; percentile makes a second pass that fills a histogram per tensor over its
// min-max range and clips both tails. Private to src/export; throws VisionError / Ort::Exception.
#pragma once

#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include <onnx/onnx_pb.h>

#include "vision/export/quantize.hpp"

namespace vision::quantize {

struct TensorRange {
  float min = 0;
  float max = 0;
};

struct CalibrationSettings {
  std::vector<std::filesystem::path> images;
  CalibrationMethod method = CalibrationMethod::percentile;
  double percentile = 99.999;
  int threads = 0;
};

// Ranges of the float tensors `tensors` of `model` (each range includes 0). The model's first
// input must be an image batch [N, 3, H, W] with fixed H and W.
std::unordered_map<std::string, TensorRange> calibrate(const onnx::ModelProto& model,
                                                       const std::vector<std::string>& tensors,
                                                       const CalibrationSettings& settings);

}  // namespace vision::quantize
