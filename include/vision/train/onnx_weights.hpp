// Starting weights from a YOLOv8 ONNX export (Ultralytics' or our own): the Conv weights are
// read in node order and loaded into a YoloDetector layer by layer. The trainer starts from it;
// the export tests use it for a model with real weights.
#pragma once

#include <filesystem>

#include "vision/core/error.hpp"

namespace vision::train {

struct YoloDetectorImpl;

struct WeightsImportReport {
  int convs_loaded = 0;
  int convs_skipped = 0;  // class-output convs left at their initialisation (DFL not counted)
  bool head_classes_reset = false;
};

// Loads the Conv weights of an Ultralytics (or Vision) YOLOv8 ONNX export into `model` in layer
// order. Each fused conv (weight W, bias b) goes into our Conv+BN as conv.weight = W and BN set
// to the identity plus bias: bn.weight = 1, bn.bias = b, running_mean = 0, running_var = 1 - eps
// (so sqrt(var + eps) = 1). Head convs with a plain bias get weight and bias directly. The DFL
// projection conv is skipped. When the file's class count differs from the model's, the last
// conv of each class branch keeps its initialisation (head_classes_reset = true). A scale
// mismatch (any other shape differs) is an error naming the file, the ONNX initializer and both
// shapes. The model is changed only when the whole file fits.
Expected<WeightsImportReport> import_onnx_weights(YoloDetectorImpl& model,
                                                  const std::filesystem::path& onnx_file);

}  // namespace vision::train
