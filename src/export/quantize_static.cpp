// Static QDQ quantization. ONNX Runtime's CPU provider fuses DequantizeLinear → op →
// QuantizeLinear groups into integer kernels (QLinearConv, QLinearMul, QLinearAdd,
// QLinearSigmoid, QLinearConcat) and drops the pairs around MaxPool, Resize, Split and Slice
// when the input and output pairs carry the same scale and zero point, so those reuse their
// input's. Activations are uint8 (asymmetric), Conv weights int8 symmetric per output channel,
// Conv biases int32 at scale input_scale · weight_scale[c]: the QLinearConv selector needs every
// Conv input to come from a DequantizeLinear.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include "quantize_graph.hpp"
#include "quantize_passes.hpp"
#include "vision/core/error.hpp"

namespace vision::quantize {

namespace {

const std::unordered_set<std::string> k_qdq_ops = {"Conv",    "Mul",    "Sigmoid", "Add",  "Concat",
                                                   "MaxPool", "Resize", "Split",   "Slice"};
// Largest |bias| in int32 steps: half the range, the other half is for the accumulated products.
constexpr float k_bias_limit = 1073741824.0F;  // 2^30

// Operators whose outputs hold only values of their input: they reuse the input's parameters.
const std::unordered_set<std::string> k_value_preserving = {"MaxPool", "Resize", "Split", "Slice"};

struct QuantParams {
  float scale = 1;
  std::uint8_t zero_point = 0;
  bool operator==(const QuantParams&) const = default;
};

QuantParams uint8_params(const TensorRange& range) {
  const float lo = std::min(range.min, 0.0F);
  const float hi = std::max(range.max, 0.0F);
  if (!(hi > lo)) return {};
  const float scale = (hi - lo) / 255.0F;
  return {scale, static_cast<std::uint8_t>(std::clamp(std::round(-lo / scale), 0.0F, 255.0F))};
}

// Inputs of a node that are activations to quantize (the rest are weights, shapes, scales).
std::vector<int> activation_inputs(const onnx::NodeProto& node) {
  if (node.op_type() == "Mul" || node.op_type() == "Add" || node.op_type() == "Concat") {
    std::vector<int> all(static_cast<size_t>(node.input_size()));
    for (int i = 0; i < node.input_size(); ++i) all[static_cast<size_t>(i)] = i;
    return all;
  }
  return {0};
}

// A node is quantized when every activation it reads and writes is a float tensor and, for
// Conv, its weight and bias are float initializers; anything else stays in float.
bool qualifies(const onnx::NodeProto& node, const GraphFacts& facts, bool in_decode) {
  if (in_decode || !k_qdq_ops.contains(node.op_type())) return false;
  for (const int i : activation_inputs(node)) {
    if (i >= node.input_size() || !facts.is_float_activation(node.input(i))) return false;
  }
  for (const auto& output : node.output()) {
    if (!facts.is_float_activation(output)) return false;
  }
  if (node.op_type() == "Conv") {
    const auto* weight = node.input_size() > 1 ? facts.float_initializer(node.input(1)) : nullptr;
    if (weight == nullptr || weight->dims_size() < 3) return false;
    if (node.input_size() > 2 && !node.input(2).empty() &&
        facts.float_initializer(node.input(2)) == nullptr)
      return false;
  }
  return true;
}

class StaticRewriter {
 public:
  StaticRewriter(onnx::GraphProto& graph, NameSource& names) : m_graph(graph), m_names(names) {}

  // QuantizeLinear → DequantizeLinear after `tensor`; returns the dequantized name.
  std::string add_pair(const std::string& tensor, const QuantParams& params,
                       std::vector<onnx::NodeProto>& nodes) {
    const std::string scale =
        add_initializer(make_float_tensor(m_names.make(tensor + "_scale"), {}, {params.scale}));
    const std::string zero_point = add_initializer(make_tensor(
        m_names.make(tensor + "_zero_point"), onnx::TensorProto::UINT8, {}, &params.zero_point, 1));
    const std::string quantized = m_names.make(tensor + "_quantized");
    const std::string dequantized = m_names.make(tensor + "_dequantized");
    nodes.push_back(make_node("QuantizeLinear", {tensor, scale, zero_point}, {quantized},
                              m_names.make(tensor + "_QuantizeLinear")));
    nodes.push_back(make_node("DequantizeLinear", {quantized, scale, zero_point}, {dequantized},
                              m_names.make(tensor + "_DequantizeLinear")));
    return dequantized;
  }

  // Int8 per-output-channel symmetric weight and int32 bias behind DequantizeLinear (axis 0);
  // rewires the Conv to read them.
  void quantize_conv_parameters(onnx::NodeProto& conv, const GraphFacts& facts, float input_scale,
                                std::vector<onnx::NodeProto>& nodes) {
    const onnx::TensorProto& weight = *facts.float_initializer(conv.input(1));
    const std::vector<float> values = float_values(weight);
    const auto channels = static_cast<size_t>(weight.dims(0));
    const size_t per_channel = channels == 0 ? 0 : values.size() / channels;
    const bool has_bias = conv.input_size() > 2 && !conv.input(2).empty();
    const std::vector<float> bias_values =
        has_bias ? float_values(*facts.float_initializer(conv.input(2)))
                 : std::vector<float>(channels, 0.0F);
    if (bias_values.size() != channels) {
      throw VisionError(ErrorCode::invalid_data,
                        describe(conv) + " has " + std::to_string(bias_values.size()) +
                            " bias values for " + std::to_string(channels) + " output channels");
    }
    std::vector<float> scales(channels, 1.0F);
    std::vector<std::int8_t> quantized(values.size());
    for (size_t c = 0; c < channels; ++c) {
      const auto first = values.begin() + static_cast<std::ptrdiff_t>(c * per_channel);
      float amax = 0;
      for (auto it = first; it != first + static_cast<std::ptrdiff_t>(per_channel); ++it)
        amax = std::max(amax, std::abs(*it));
      if (amax > 0) scales[c] = amax / 127.0F;
      // The bias is stored at scale input_scale · weight_scale. Where activations are tiny next
      // to the bias (layers that barely respond, as in an untrained model) that overflows int32,
      // so the weight scale grows until the bias fits in half the range, leaving the other half
      // for the accumulated products.
      const float bias_floor = std::abs(bias_values[c]) / (k_bias_limit * input_scale);
      scales[c] = std::max(scales[c], bias_floor);
      for (size_t k = 0; k < per_channel; ++k) {
        const float q = std::round(values[c * per_channel + k] / scales[c]);
        quantized[c * per_channel + k] = static_cast<std::int8_t>(std::clamp(q, -127.0F, 127.0F));
      }
    }
    const std::vector<std::int64_t> dims(weight.dims().begin(), weight.dims().end());
    const std::vector<std::int8_t> weight_zero(channels, 0);
    const std::string q_weight = add_initializer(
        make_tensor(m_names.make(weight.name() + "_quantized"), onnx::TensorProto::INT8, dims,
                    quantized.data(), quantized.size()));
    const std::string weight_scale = add_initializer(make_float_tensor(
        m_names.make(weight.name() + "_scale"), {static_cast<std::int64_t>(channels)}, scales));
    const std::string weight_zp = add_initializer(
        make_tensor(m_names.make(weight.name() + "_zero_point"), onnx::TensorProto::INT8,
                    {static_cast<std::int64_t>(channels)}, weight_zero.data(), channels));
    conv.set_input(1, add_dequantize(q_weight, weight_scale, weight_zp, weight.name(), nodes));

    if (!has_bias) return;
    const onnx::TensorProto& bias = *facts.float_initializer(conv.input(2));
    std::vector<float> bias_scales(channels);
    std::vector<std::int32_t> bias_quantized(channels);
    for (size_t c = 0; c < channels; ++c) {
      bias_scales[c] = input_scale * scales[c];
      const double q = std::round(static_cast<double>(bias_values[c]) / bias_scales[c]);
      bias_quantized[c] = static_cast<std::int32_t>(
          std::clamp(q, -static_cast<double>(std::numeric_limits<std::int32_t>::max()),
                     static_cast<double>(std::numeric_limits<std::int32_t>::max())));
    }
    const std::vector<std::int32_t> bias_zero(channels, 0);
    const std::string q_bias =
        add_initializer(make_tensor(m_names.make(bias.name() + "_quantized"),
                                    onnx::TensorProto::INT32, {static_cast<std::int64_t>(channels)},
                                    bias_quantized.data(), channels * sizeof(std::int32_t)));
    const std::string bias_scale = add_initializer(make_float_tensor(
        m_names.make(bias.name() + "_scale"), {static_cast<std::int64_t>(channels)}, bias_scales));
    const std::string bias_zp = add_initializer(make_tensor(
        m_names.make(bias.name() + "_zero_point"), onnx::TensorProto::INT32,
        {static_cast<std::int64_t>(channels)}, bias_zero.data(), channels * sizeof(std::int32_t)));
    conv.set_input(2, add_dequantize(q_bias, bias_scale, bias_zp, bias.name(), nodes));
  }

 private:
  std::string add_initializer(onnx::TensorProto tensor) {
    std::string name = tensor.name();
    *m_graph.add_initializer() = std::move(tensor);
    return name;
  }

  std::string add_dequantize(const std::string& quantized, const std::string& scale,
                             const std::string& zero_point, const std::string& base,
                             std::vector<onnx::NodeProto>& nodes) {
    const std::string output = m_names.make(base + "_dequantized");
    nodes.push_back(make_node("DequantizeLinear", {quantized, scale, zero_point}, {output},
                              m_names.make(base + "_DequantizeLinear")));
    set_int_attribute(nodes.back(), "axis", 0);
    return output;
  }

  onnx::GraphProto& m_graph;
  NameSource& m_names;
};

}  // namespace

PassCounts quantize_static(onnx::ModelProto& model, const CalibrationSettings& calibration) {
  onnx::GraphProto& graph = *model.mutable_graph();
  const GraphFacts facts = analyse_graph(graph);
  const int node_count = graph.node_size();

  // The quantized nodes and, in order of appearance, the tensors around them.
  std::vector<bool> quantized(static_cast<size_t>(node_count), false);
  std::vector<std::string> tensors;
  std::unordered_set<std::string> is_candidate;
  const auto add_candidate = [&](const std::string& tensor) {
    if (is_candidate.insert(tensor).second) tensors.push_back(tensor);
  };
  PassCounts counts;
  for (int i = 0; i < node_count; ++i) {
    const auto& node = graph.node(i);
    if (node.op_type() == "Constant") continue;
    if (!qualifies(node, facts, facts.in_decode[static_cast<size_t>(i)])) {
      ++counts.float_nodes;
      continue;
    }
    quantized[static_cast<size_t>(i)] = true;
    ++counts.quantized_nodes;
    for (const int input : activation_inputs(node)) add_candidate(node.input(input));
    for (const auto& output : node.output()) add_candidate(output);
  }
  if (tensors.empty()) return counts;

  const auto ranges = calibrate(model, tensors, calibration);

  // Parameters in graph order, so a value-preserving node finds its input's already set.
  std::unordered_map<std::string, QuantParams> params;
  for (const auto& tensor : tensors) params[tensor] = uint8_params(ranges.at(tensor));
  for (int i = 0; i < node_count; ++i) {
    const auto& node = graph.node(i);
    if (!quantized[static_cast<size_t>(i)]) continue;
    std::optional<QuantParams> shared;
    if (k_value_preserving.contains(node.op_type())) {
      shared = params.at(node.input(0));
    } else if (node.op_type() == "Concat") {
      // Inputs that already agree (the halves of a Split) make the Concat a plain copy.
      shared = params.at(node.input(0));
      for (const auto& input : node.input()) {
        if (!(params.at(input) == *shared)) shared.reset();
        if (!shared) break;
      }
    }
    if (shared) {
      for (const auto& output : node.output()) params[output] = *shared;
    }
  }

  NameSource names(graph);
  StaticRewriter rewriter(graph, names);
  std::unordered_map<std::string, std::string> dequantized;  // tensor → its DequantizeLinear output
  std::vector<onnx::NodeProto> nodes;
  nodes.reserve(static_cast<size_t>(node_count) * 3);
  for (const auto& input : graph.input()) {
    if (is_candidate.contains(input.name()))
      dequantized[input.name()] = rewriter.add_pair(input.name(), params.at(input.name()), nodes);
  }
  for (int i = 0; i < node_count; ++i) {
    onnx::NodeProto node = graph.node(i);
    for (int k = 0; k < node.input_size(); ++k) {
      const auto it = dequantized.find(node.input(k));
      if (it != dequantized.end()) node.set_input(k, it->second);
    }
    if (quantized[static_cast<size_t>(i)] && node.op_type() == "Conv") {
      rewriter.quantize_conv_parameters(node, facts, params.at(graph.node(i).input(0)).scale,
                                        nodes);
    }
    nodes.push_back(node);
    for (const auto& output : graph.node(i).output()) {
      if (is_candidate.contains(output))
        dequantized[output] = rewriter.add_pair(output, params.at(output), nodes);
    }
  }
  graph.clear_node();
  for (auto& node : nodes) *graph.add_node() = std::move(node);
  remove_unused_initializers(graph);
  return counts;
}

}  // namespace vision::quantize
