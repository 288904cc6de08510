#include "quantize_graph.hpp"

#include <algorithm>
#include <cstring>
#include <map>

#include "vision/core/error.hpp"

namespace vision::quantize {

namespace {

// Operators whose outputs have the element type of their first input. Enough for the detector
// graphs Vision and Ultralytics export; a tensor made by any other operator has no known type
// and is left alone.
const std::unordered_set<std::string> k_same_type_as_input = {"Abs",
                                                              "Add",
                                                              "AveragePool",
                                                              "BatchNormalization",
                                                              "Ceil",
                                                              "Clip",
                                                              "Concat",
                                                              "Conv",
                                                              "ConvTranspose",
                                                              "Div",
                                                              "Elu",
                                                              "Erf",
                                                              "Exp",
                                                              "Expand",
                                                              "Flatten",
                                                              "Floor",
                                                              "Gather",
                                                              "Gemm",
                                                              "GlobalAveragePool",
                                                              "GlobalMaxPool",
                                                              "HardSigmoid",
                                                              "HardSwish",
                                                              "Identity",
                                                              "LeakyRelu",
                                                              "Log",
                                                              "LogSoftmax",
                                                              "MatMul",
                                                              "Max",
                                                              "MaxPool",
                                                              "Mean",
                                                              "Min",
                                                              "Mish",
                                                              "Mul",
                                                              "Neg",
                                                              "Pad",
                                                              "Pow",
                                                              "PRelu",
                                                              "ReduceMax",
                                                              "ReduceMean",
                                                              "ReduceMin",
                                                              "ReduceSum",
                                                              "Relu",
                                                              "Reshape",
                                                              "Resize",
                                                              "Round",
                                                              "Selu",
                                                              "Sigmoid",
                                                              "Slice",
                                                              "Softmax",
                                                              "Softplus",
                                                              "Split",
                                                              "Sqrt",
                                                              "Squeeze",
                                                              "Sub",
                                                              "Sum",
                                                              "Tanh",
                                                              "Tile",
                                                              "TopK",
                                                              "Transpose",
                                                              "Unsqueeze",
                                                              "Upsample"};

const std::unordered_set<std::string> k_bool_result = {
    "And", "Equal", "Greater", "GreaterOrEqual", "IsInf", "IsNaN", "Less", "LessOrEqual",
    "Not", "Or",    "Xor"};

const onnx::AttributeProto* find_attribute(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& attribute : node.attribute()) {
    if (attribute.name() == name) return &attribute;
  }
  return nullptr;
}

int constant_type(const onnx::NodeProto& node) {
  for (const auto& attribute : node.attribute()) {
    if (attribute.name() == "value") return attribute.t().data_type();
    if (attribute.name() == "value_float" || attribute.name() == "value_floats")
      return onnx::TensorProto::FLOAT;
    if (attribute.name() == "value_int" || attribute.name() == "value_ints")
      return onnx::TensorProto::INT64;
  }
  return onnx::TensorProto::UNDEFINED;
}

// The element type of output `index` of `node`, or UNDEFINED when the rules cannot tell.
int output_type(const onnx::NodeProto& node, int index,
                const std::unordered_map<std::string, int>& known) {
  const std::string& op = node.op_type();
  const auto input_type = [&](int i) {
    if (i >= node.input_size()) return static_cast<int>(onnx::TensorProto::UNDEFINED);
    const auto it = known.find(node.input(i));
    return it == known.end() ? static_cast<int>(onnx::TensorProto::UNDEFINED) : it->second;
  };
  if (op == "Constant") return constant_type(node);
  if (op == "Shape" || op == "Size" || op == "NonZero" || op == "ArgMax" || op == "ArgMin")
    return onnx::TensorProto::INT64;
  if (op == "Cast")
    return static_cast<int>(find_attribute(node, "to") ? find_attribute(node, "to")->i() : 0);
  if (k_bool_result.contains(op)) return onnx::TensorProto::BOOL;
  if ((op == "MaxPool" || op == "TopK") && index == 1) return onnx::TensorProto::INT64;
  if (op == "Where") return input_type(1);
  if (k_same_type_as_input.contains(op)) return input_type(0);
  return onnx::TensorProto::UNDEFINED;
}

// Work on feature maps: a Conv with a kernel larger than 1×1, pooling, upsampling.
bool is_spatial(const onnx::NodeProto& node, const GraphFacts& facts) {
  const std::string& op = node.op_type();
  if (op == "Resize" || op == "Upsample" || op == "MaxPool" || op == "AveragePool") return true;
  if (op != "Conv") return false;
  const auto* kernel = find_attribute(node, "kernel_shape");
  if (kernel != nullptr)
    return std::ranges::any_of(kernel->ints(), [](std::int64_t k) { return k > 1; });
  const auto weight =
      node.input_size() > 1 ? facts.initializers.find(node.input(1)) : facts.initializers.end();
  if (weight == facts.initializers.end()) return true;
  const auto& dims = weight->second->dims();
  return std::any_of(dims.begin() + std::min(dims.size(), 2), dims.end(),
                     [](std::int64_t k) { return k > 1; });
}

// Per node: whether spatial work follows it. A Reshape that nothing spatial follows flattens
// the feature maps for the decode; one that spatial work follows belongs to the network (the
// attention blocks of YOLO11 reshape inside the backbone).
std::vector<bool> feeds_spatial_work(const onnx::GraphProto& graph, const GraphFacts& facts) {
  std::vector<bool> feeds(static_cast<size_t>(graph.node_size()), false);
  std::unordered_set<std::string> read_before_spatial;
  for (int i = graph.node_size() - 1; i >= 0; --i) {
    const auto& node = graph.node(i);
    bool spatial = is_spatial(node, facts);
    for (const auto& output : node.output())
      spatial = spatial || read_before_spatial.contains(output);
    feeds[static_cast<size_t>(i)] = spatial;
    if (spatial) read_before_spatial.insert(node.input().begin(), node.input().end());
  }
  return feeds;
}

// IR version that goes with an opset (ONNX's versioning table).
int ir_version_for(std::int64_t opset) {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

}  // namespace

bool GraphFacts::is_float_activation(const std::string& tensor) const {
  if (tensor.empty() || initializers.contains(tensor)) return false;
  const auto it = elem_types.find(tensor);
  return it != elem_types.end() && it->second == onnx::TensorProto::FLOAT;
}

const onnx::TensorProto* GraphFacts::float_initializer(const std::string& name) const {
  const auto it = initializers.find(name);
  if (it == initializers.end() || it->second->data_type() != onnx::TensorProto::FLOAT)
    return nullptr;
  return it->second;
}

GraphFacts analyse_graph(const onnx::GraphProto& graph) {
  GraphFacts facts;
  for (const auto& tensor : graph.initializer()) {
    facts.initializers[tensor.name()] = &tensor;
    facts.elem_types[tensor.name()] = tensor.data_type();
  }
  for (const auto& input : graph.input()) {
    if (input.type().has_tensor_type())
      facts.elem_types.emplace(input.name(), input.type().tensor_type().elem_type());
  }
  const std::vector<bool> before_spatial = feeds_spatial_work(graph, facts);
  std::unordered_set<std::string> decode_tensors;
  facts.in_decode.resize(static_cast<size_t>(graph.node_size()), false);
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& node = graph.node(i);
    bool decode = node.op_type() == "Reshape" && !before_spatial[static_cast<size_t>(i)];
    for (const auto& input : node.input()) decode = decode || decode_tensors.contains(input);
    facts.in_decode[static_cast<size_t>(i)] = decode;
    for (int o = 0; o < node.output_size(); ++o) {
      if (decode) decode_tensors.insert(node.output(o));
      const int type = output_type(node, o, facts.elem_types);
      if (type != onnx::TensorProto::UNDEFINED) facts.elem_types[node.output(o)] = type;
    }
  }
  return facts;
}

std::vector<float> float_values(const onnx::TensorProto& tensor) {
  if (tensor.data_location() == onnx::TensorProto::EXTERNAL) {
    throw VisionError(ErrorCode::invalid_data,
                      "initializer '" + tensor.name() +
                          "' is stored outside the file (external data is not supported)");
  }
  std::int64_t count = 1;
  for (const auto d : tensor.dims()) count *= d;
  std::vector<float> values(static_cast<size_t>(count));
  if (!tensor.raw_data().empty()) {
    if (tensor.raw_data().size() != values.size() * sizeof(float)) {
      throw VisionError(ErrorCode::invalid_data, "initializer '" + tensor.name() +
                                                     "' holds fewer bytes than its shape needs");
    }
    std::memcpy(values.data(), tensor.raw_data().data(), tensor.raw_data().size());
  } else if (tensor.float_data_size() == count) {
    std::ranges::copy(tensor.float_data(), values.begin());
  } else {
    throw VisionError(ErrorCode::invalid_data, "initializer '" + tensor.name() +
                                                   "' holds fewer values than its shape needs");
  }
  return values;
}

onnx::TensorProto make_tensor(const std::string& name, onnx::TensorProto::DataType type,
                              const std::vector<std::int64_t>& dims, const void* data,
                              size_t bytes) {
  onnx::TensorProto tensor;
  tensor.set_name(name);
  tensor.set_data_type(type);
  for (const auto d : dims) tensor.add_dims(d);
  tensor.set_raw_data(data, bytes);
  return tensor;
}

onnx::TensorProto make_float_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                                    const std::vector<float>& values) {
  return make_tensor(name, onnx::TensorProto::FLOAT, dims, values.data(),
                     values.size() * sizeof(float));
}

onnx::NodeProto make_node(const std::string& op, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs, const std::string& name) {
  onnx::NodeProto node;
  node.set_op_type(op);
  node.set_name(name);
  for (const auto& input : inputs) node.add_input(input);
  for (const auto& output : outputs) node.add_output(output);
  return node;
}

void set_int_attribute(onnx::NodeProto& node, const std::string& name, std::int64_t value) {
  auto* attribute = node.add_attribute();
  attribute->set_name(name);
  attribute->set_type(onnx::AttributeProto::INT);
  attribute->set_i(value);
}

NameSource::NameSource(const onnx::GraphProto& graph) {
  for (const auto& tensor : graph.initializer()) m_taken.insert(tensor.name());
  for (const auto& input : graph.input()) m_taken.insert(input.name());
  for (const auto& node : graph.node()) {
    m_taken.insert(node.name());
    for (const auto& output : node.output()) m_taken.insert(output);
  }
}

std::string NameSource::make(const std::string& base) {
  std::string name = base;
  for (int i = 1; m_taken.contains(name); ++i) name = base + "_" + std::to_string(i);
  m_taken.insert(name);
  return name;
}

void remove_unused_initializers(onnx::GraphProto& graph) {
  std::unordered_set<std::string> used;
  for (const auto& node : graph.node()) used.insert(node.input().begin(), node.input().end());
  for (const auto& output : graph.output()) used.insert(output.name());
  std::unordered_set<std::string> removed;
  auto* initializers = graph.mutable_initializer();
  for (int i = initializers->size() - 1; i >= 0; --i) {
    if (used.contains(initializers->Get(i).name())) continue;
    removed.insert(initializers->Get(i).name());
    initializers->DeleteSubrange(i, 1);
  }
  auto* inputs = graph.mutable_input();
  for (int i = inputs->size() - 1; i >= 0; --i) {
    if (removed.contains(inputs->Get(i).name())) inputs->DeleteSubrange(i, 1);
  }
}

void raise_opset(onnx::ModelProto& model, int minimum, const std::string& file) {
  onnx::OperatorSetIdProto* main = nullptr;
  for (auto& import : *model.mutable_opset_import()) {
    if (import.domain().empty() || import.domain() == "ai.onnx") main = &import;
  }
  if (main == nullptr)
    throw VisionError(ErrorCode::invalid_data, file + ": the model imports no ONNX operator set");
  const std::int64_t opset = main->version();
  if (opset >= minimum) return;
  if (opset < 11) {
    throw VisionError(ErrorCode::invalid_data,
                      file + ": opset " + std::to_string(opset) +
                          " is too old to quantize; export with opset 13 or later");
  }
  // Operators whose inputs or meaning changed between opset 11 and 13, with the opset of the
  // change: a graph using one cannot simply be relabelled.
  static const std::map<std::string, std::int64_t> changed_in = {
      {"Dropout", 12}, {"Hardmax", 13}, {"LogSoftmax", 13}, {"ReduceSum", 13},
      {"Softmax", 13}, {"Split", 13},   {"Squeeze", 13},    {"Unsqueeze", 13}};
  for (const auto& node : model.graph().node()) {
    const auto it = changed_in.find(node.op_type());
    if (it != changed_in.end() && it->second > opset && it->second <= minimum) {
      throw VisionError(ErrorCode::invalid_data,
                        file + ": " + describe(node) + " changed meaning between opset " +
                            std::to_string(opset) + " and " + std::to_string(minimum) +
                            ", which quantization needs; export with opset " +
                            std::to_string(minimum) + " or later");
    }
  }
  main->set_version(minimum);
  model.set_ir_version(std::max<std::int64_t>(model.ir_version(), ir_version_for(minimum)));
}

std::string describe(const onnx::NodeProto& node) {
  const std::string& name =
      node.name().empty() && node.output_size() > 0 ? node.output(0) : node.name();
  return node.op_type() + " node '" + name + "'";
}

}  // namespace vision::quantize
