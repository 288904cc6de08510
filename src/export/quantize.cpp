// quantize_onnx(): read the FP32 model, check it, run the dynamic or static rewrite, mark the
// metadata and write model-int8.onnx. Every third-party exception stops here.
#include "vision/export/quantize.hpp"

#include <fstream>
#include <unordered_set>

#include <onnx/onnx_pb.h>
#include <onnxruntime_cxx_api.h>

#include "quantize_graph.hpp"
#include "quantize_passes.hpp"
#include "vision/core/exception_error.hpp"

namespace vision {

namespace {

// Per-channel DequantizeLinear (the `axis` attribute) arrived in opset 13.
constexpr int k_minimum_opset = 13;

const std::unordered_set<std::string> k_quantized_ops = {
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger",
    "MatMulInteger",  "QLinearConv",      "QLinearMatMul"};

onnx::ModelProto read_model(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw VisionError(ErrorCode::not_found, file.string() + ": no such model file");
  std::ifstream in(file, std::ios::binary);
  onnx::ModelProto model;
  // Protobuf accepts many byte strings as a message with unknown fields, so an empty graph or
  // a missing opset also means "not an ONNX model".
  if (!in || !model.ParseFromIstream(&in) || model.graph().node_size() == 0 ||
      model.opset_import_size() == 0) {
    throw VisionError(ErrorCode::invalid_data, file.string() + ": not an ONNX model");
  }
  for (const auto& node : model.graph().node()) {
    if (k_quantized_ops.contains(node.op_type())) {
      throw VisionError(ErrorCode::invalid_data,
                        file.string() + ": already quantized (" + quantize::describe(node) + ")");
    }
  }
  return model;
}

void set_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  for (auto& prop : *model.mutable_metadata_props()) {
    if (prop.key() == key) {
      prop.set_value(value);
      return;
    }
  }
  auto* prop = model.add_metadata_props();
  prop->set_key(key);
  prop->set_value(value);
}

void write_model(const onnx::ModelProto& model, const std::filesystem::path& file) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out || !model.SerializeToOstream(&out) || !out.flush())
    throw VisionError(ErrorCode::io, file.string() + ": cannot write the model");
}

void check_options(const QuantizeOptions& options) {
  if (options.output.empty())
    throw VisionError(ErrorCode::config, "quantize: no output file given");
  if (options.mode != QuantizeMode::static_qdq) return;
  if (options.calibration_images.empty()) {
    throw VisionError(ErrorCode::config,
                      options.input.string() + ": static quantization needs calibration images");
  }
  if (options.method == CalibrationMethod::percentile &&
      !(options.percentile > 0 && options.percentile <= 100)) {
    throw VisionError(
        ErrorCode::config,
        "quantize: percentile " + std::to_string(options.percentile) + " is outside (0, 100]");
  }
}

QuantizeReport run_quantization(const QuantizeOptions& options) {
  check_options(options);
  onnx::ModelProto model = read_model(options.input);
  const std::string file = options.input.string();
  quantize::raise_opset(model, k_minimum_opset, file);
  quantize::PassCounts counts;
  try {
    if (options.mode == QuantizeMode::dynamic) {
      counts = quantize::quantize_dynamic(model);
    } else {
      counts = quantize::quantize_static(
          model, {options.calibration_images, options.method, options.percentile, options.threads});
    }
  } catch (const VisionError& e) {
    throw VisionError(e.error().code, file + ": " + e.error().message);
  } catch (const Ort::Exception& e) {
    throw VisionError(ErrorCode::runtime, file + ": calibration failed: " + e.what());
  }
  if (counts.quantized_nodes == 0)
    throw VisionError(ErrorCode::invalid_data,
                      file + ": no node outside the head decode can be quantized");
  set_metadata(model, "quantization", options.mode == QuantizeMode::dynamic ? "dynamic" : "static");
  write_model(model, options.output);
  return {std::filesystem::file_size(options.input), std::filesystem::file_size(options.output),
          counts.quantized_nodes, counts.float_nodes};
}

}  // namespace

Expected<QuantizeReport> quantize_onnx(const QuantizeOptions& options) {
  try {
    return run_quantization(options);
  } catch (...) {
    return std::unexpected(error_from_current_exception(options.input.string() + ": quantization failed"));
  }
}

}  // namespace vision
