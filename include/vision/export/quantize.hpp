// INT8 quantization of an FP32 detector file (Vision's export or an Ultralytics export) into
// model-int8.onnx, for ONNX Runtime's CPU provider (SPEC section 5):
//   dynamic    → DynamicQuantizeLinear → ConvInteger / MatMulInteger with uint8 weights (ORT has
//                no ConvInteger kernel for int8 weights); activations quantized at run time.
//   static_qdq → QuantizeLinear/DequantizeLinear pairs that ORT fuses into QLinearConv & co.:
//                per-channel symmetric int8 weights, uint8 activations calibrated on images.
// Both keep the head decode in float (the per-stride Reshapes that flatten the feature maps, found
// as the Reshapes no spatial Conv, pooling or resizing follows, and everything downstream of
// them: the DFL Softmax and Conv, the anchor decode), keep all metadata_props and add
// `quantization` = "dynamic" | "static". This header is free of LibTorch and of the ONNX and
// ONNX Runtime headers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "vision/core/error.hpp"

namespace vision {

enum class QuantizeMode { dynamic, static_qdq };
enum class CalibrationMethod { min_max, percentile };

struct QuantizeOptions {
  std::filesystem::path input;   // FP32 model.onnx (Vision's export or an Ultralytics export)
  std::filesystem::path output;  // model-int8.onnx
  QuantizeMode mode = QuantizeMode::static_qdq;
  std::vector<std::filesystem::path>
      calibration_images;  // static only; letterboxed to the model's input size
  CalibrationMethod method = CalibrationMethod::percentile;
  double percentile =
      99.999;       // percentile only: keeps this share of the values, clipping both tails equally
  int threads = 0;  // ONNX Runtime intra-op threads for calibration; 0 = its default
};

struct QuantizeReport {
  std::uint64_t input_bytes = 0, output_bytes = 0;
  int quantized_nodes = 0;  // nodes of the input model now computed in integers
  int float_nodes = 0;      // nodes of the input model left in float (Constant nodes not counted)
};

// Errors name the file (and the node when one is at fault): a missing input is not_found, a file
// that is not an ONNX model or a graph that cannot be quantized is invalid_data, static mode
// without calibration images or with a percentile outside (0, 100] is config.
Expected<QuantizeReport> quantize_onnx(const QuantizeOptions& options);

}  // namespace vision
