// The two graph rewrites behind quantize_onnx(). Each edits the model in place, leaves the head
// decode in float and returns how many of the original nodes it quantized. Private to
// src/export; errors are thrown as VisionError (and Ort::Exception from calibration).
#pragma once

#include <onnx/onnx_pb.h>

#include "calibration.hpp"

namespace vision::quantize {

struct PassCounts {
  int quantized_nodes = 0;
  int float_nodes = 0;
};

// Conv and MatMul → DynamicQuantizeLinear → ConvInteger / MatMulInteger (uint8 per-tensor
// asymmetric weights) → Cast → Mul by the two scales → Add the bias.
PassCounts quantize_dynamic(onnx::ModelProto& model);

// QuantizeLinear → DequantizeLinear on the activations around Conv, Mul, Sigmoid, Add, Concat,
// MaxPool, Resize, Split and Slice (ranges calibrated on images), int8 per-channel weights and
// int32 biases behind DequantizeLinear.
PassCounts quantize_static(onnx::ModelProto& model, const CalibrationSettings& calibration);

}  // namespace vision::quantize
