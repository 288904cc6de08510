// Dynamic quantization: weights stored as uint8 (per tensor, asymmetric), activations quantized
// at run time by DynamicQuantizeLinear. ONNX Runtime's CPU provider has ConvInteger only for
// uint8 weights. One DynamicQuantizeLinear serves every Conv / MatMul reading the same tensor.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "quantize_graph.hpp"
#include "quantize_passes.hpp"

namespace vision::quantize {

namespace {

struct QuantizedWeight {
  std::string values, scale, zero_point;
};

struct DynamicInput {
  std::string values, scale, zero_point;
};

bool qualifies(const onnx::NodeProto& node, const GraphFacts& facts, bool in_decode) {
  if (in_decode || node.input_size() < 2 || !facts.is_float_activation(node.input(0))) return false;
  if (node.op_type() == "Conv") {
    const auto* weight = facts.float_initializer(node.input(1));
    if (weight == nullptr || weight->dims_size() < 3) return false;
    return node.input_size() < 3 || node.input(2).empty() ||
           facts.float_initializer(node.input(2)) != nullptr;
  }
  return node.op_type() == "MatMul" && facts.float_initializer(node.input(1)) != nullptr;
}

class DynamicRewriter {
 public:
  DynamicRewriter(onnx::GraphProto& graph, NameSource& names, std::vector<onnx::NodeProto>& nodes)
      : m_graph(graph), m_names(names), m_nodes(nodes) {}

  // Conv → ConvInteger → Cast → Mul(x_scale · w_scale) → Add(bias as [1, C, 1, …]); MatMul the
  // same with MatMulInteger and no bias. The last node writes the original output.
  void rewrite(const onnx::NodeProto& node, const GraphFacts& facts) {
    const bool conv = node.op_type() == "Conv";
    const std::string base = node.name().empty() ? node.output(0) : node.name();
    const DynamicInput& x = dynamic_input(node.input(0));
    const onnx::TensorProto& weight_tensor = *facts.float_initializer(node.input(1));
    const QuantizedWeight w = quantize_weight(weight_tensor);

    const std::string integer = m_names.make(base + "_output_int32");
    m_nodes.push_back(make_node(conv ? "ConvInteger" : "MatMulInteger",
                                {x.values, w.values, x.zero_point, w.zero_point}, {integer},
                                m_names.make(base + (conv ? "_ConvInteger" : "_MatMulInteger"))));
    if (conv) {
      for (const auto& attribute : node.attribute()) *m_nodes.back().add_attribute() = attribute;
    }
    const std::string as_float = m_names.make(base + "_output_float");
    m_nodes.push_back(make_node("Cast", {integer}, {as_float}, m_names.make(base + "_Cast")));
    set_int_attribute(m_nodes.back(), "to", onnx::TensorProto::FLOAT);
    const std::string scale = m_names.make(base + "_scale");
    m_nodes.push_back(
        make_node("Mul", {x.scale, w.scale}, {scale}, m_names.make(base + "_scale_Mul")));

    const bool has_bias = conv && node.input_size() > 2 && !node.input(2).empty();
    const std::string scaled = has_bias ? m_names.make(base + "_output_scaled") : node.output(0);
    m_nodes.push_back(
        make_node("Mul", {as_float, scale}, {scaled}, m_names.make(base + "_output_Mul")));
    if (!has_bias) return;
    const onnx::TensorProto& bias = *facts.float_initializer(node.input(2));
    std::vector<std::int64_t> dims(static_cast<size_t>(weight_tensor.dims_size()), 1);
    dims[1] = weight_tensor.dims(0);
    const std::string reshaped = m_names.make(bias.name() + "_reshaped");
    *m_graph.add_initializer() = make_float_tensor(reshaped, dims, float_values(bias));
    m_nodes.push_back(
        make_node("Add", {scaled, reshaped}, {node.output(0)}, m_names.make(base + "_bias_Add")));
  }

 private:
  const DynamicInput& dynamic_input(const std::string& tensor) {
    const auto it = m_inputs.find(tensor);
    if (it != m_inputs.end()) return it->second;
    DynamicInput input{m_names.make(tensor + "_quantized"), m_names.make(tensor + "_scale"),
                       m_names.make(tensor + "_zero_point")};
    m_nodes.push_back(make_node("DynamicQuantizeLinear", {tensor},
                                {input.values, input.scale, input.zero_point},
                                m_names.make(tensor + "_DynamicQuantizeLinear")));
    return m_inputs.emplace(tensor, std::move(input)).first->second;
  }

  QuantizedWeight quantize_weight(const onnx::TensorProto& weight) {
    const std::vector<float> values = float_values(weight);
    const auto [min_it, max_it] = std::minmax_element(values.begin(), values.end());
    const float lo = values.empty() ? 0.0F : std::min(*min_it, 0.0F);
    const float hi = values.empty() ? 0.0F : std::max(*max_it, 0.0F);
    const float scale = hi > lo ? (hi - lo) / 255.0F : 1.0F;
    const float zero_point = std::clamp(std::round(-lo / scale), 0.0F, 255.0F);
    std::vector<std::uint8_t> quantized(values.size());
    std::ranges::transform(values, quantized.begin(), [&](float v) {
      return static_cast<std::uint8_t>(
          std::clamp(std::round(v / scale) + zero_point, 0.0F, 255.0F));
    });
    const auto zp = static_cast<std::uint8_t>(zero_point);
    const std::vector<std::int64_t> dims(weight.dims().begin(), weight.dims().end());
    QuantizedWeight result{m_names.make(weight.name() + "_quantized"),
                           m_names.make(weight.name() + "_scale"),
                           m_names.make(weight.name() + "_zero_point")};
    *m_graph.add_initializer() = make_tensor(result.values, onnx::TensorProto::UINT8, dims,
                                             quantized.data(), quantized.size());
    *m_graph.add_initializer() = make_float_tensor(result.scale, {}, {scale});
    *m_graph.add_initializer() =
        make_tensor(result.zero_point, onnx::TensorProto::UINT8, {}, &zp, 1);
    return result;
  }

  onnx::GraphProto& m_graph;
  NameSource& m_names;
  std::vector<onnx::NodeProto>& m_nodes;
  std::unordered_map<std::string, DynamicInput> m_inputs;
};

}  // namespace

PassCounts quantize_dynamic(onnx::ModelProto& model) {
  onnx::GraphProto& graph = *model.mutable_graph();
  const GraphFacts facts = analyse_graph(graph);
  NameSource names(graph);
  std::vector<onnx::NodeProto> nodes;
  DynamicRewriter rewriter(graph, names, nodes);
  PassCounts counts;
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& node = graph.node(i);
    if (node.op_type() == "Constant") {
      nodes.push_back(node);
    } else if (qualifies(node, facts, facts.in_decode[static_cast<size_t>(i)])) {
      rewriter.rewrite(node, facts);
      ++counts.quantized_nodes;
    } else {
      nodes.push_back(node);
      ++counts.float_nodes;
    }
  }
  graph.clear_node();
  for (auto& node : nodes) *graph.add_node() = std::move(node);
  remove_unused_initializers(graph);
  return counts;
}

}  // namespace vision::quantize
