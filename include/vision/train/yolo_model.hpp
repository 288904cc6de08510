// The YOLOv8-style detector that `vision train` trains: CSP backbone (Conv-BN-SiLU, C2f),
// SPPF, PAN neck and a decoupled head with DFL (reg_max 16) at strides 8/16/32, in scales
// n/s/m with Ultralytics' depth/width multipliers. This header stays free of LibTorch so
// the rest of the project can name the options; the module lives in src/train.
#pragma once

#include <cstdint>

#include "vision/core/error.hpp"

namespace vision {

// DFL bins per box side (Ultralytics' reg_max): the head predicts 4 · k_yolo_reg_max logits per
// anchor. Its one home: the loss and the decoder read it from the model they work on.
inline constexpr int k_yolo_reg_max = 16;

struct YoloModelOptions {
  int num_classes = 80;
  char scale = 'n';  // n | s | m
  int reg_max = k_yolo_reg_max;
};

struct YoloScale {
  double depth;
  double width;
  int max_channels;
};

// Ultralytics' multipliers: n (0.33, 0.25, 1024), s (0.33, 0.50, 1024), m (0.67, 0.75, 768).
Expected<YoloScale> yolo_scale(char scale);

// Builds the model on the CPU and counts its parameters (the DFL projection included, as
// Ultralytics counts them): 3 157 200 for scale n with 80 classes.
Expected<std::int64_t> yolo_parameter_count(const YoloModelOptions& options);

}  // namespace vision
