// What the quantization passes need to know about an ONNX graph (element types, initializers,
// which nodes are the head decode) and the helpers they share to add tensors and nodes.
// Private to src/export; errors are thrown as VisionError and converted at quantize_onnx().
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <onnx/onnx_pb.h>

namespace vision::quantize {

struct GraphFacts {
  std::unordered_map<std::string, const onnx::TensorProto*> initializers;
  // Element type (onnx::TensorProto::DataType) of every tensor whose type the rules in
  // analyse_graph() can tell; tensors missing here are never quantized.
  std::unordered_map<std::string, int> elem_types;
  // Per node: part of the head decode, i.e. a Reshape that no spatial work (Conv with a kernel
  // over 1×1, pooling, resizing) follows — the per-stride flatten before the anchor decode — or
  // anything downstream of one. These nodes stay in float.
  std::vector<bool> in_decode;

  bool is_float_activation(const std::string& tensor) const;
  const onnx::TensorProto* float_initializer(const std::string& name) const;
};

// Nodes must be in topological order, as ONNX requires.
GraphFacts analyse_graph(const onnx::GraphProto& graph);

// Values of a float initializer, from raw_data or float_data.
std::vector<float> float_values(const onnx::TensorProto& tensor);

onnx::TensorProto make_tensor(const std::string& name, onnx::TensorProto::DataType type,
                              const std::vector<std::int64_t>& dims, const void* data,
                              size_t bytes);
onnx::TensorProto make_float_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                                    const std::vector<float>& values);

onnx::NodeProto make_node(const std::string& op, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs, const std::string& name);
void set_int_attribute(onnx::NodeProto& node, const std::string& name, std::int64_t value);

// Names for the tensors and nodes a pass adds, never clashing with the graph's own.
class NameSource {
 public:
  explicit NameSource(const onnx::GraphProto& graph);
  std::string make(const std::string& base);

 private:
  std::unordered_set<std::string> m_taken;
};

// Drops the initializers no node or graph output reads any more (and their graph-input entries,
// which IR versions before 4 required).
void remove_unused_initializers(onnx::GraphProto& graph);

// Raises the default-domain opset to at least `minimum` (ir_version to match). Raising from 11
// or 12 is refused, naming the node, when the graph uses an operator whose inputs or meaning
// changed on the way (Split, Squeeze, Softmax, …); below 11 is refused outright.
void raise_opset(onnx::ModelProto& model, int minimum, const std::string& file);

// "<op> node '<name>'" (or its first output when unnamed), for error messages.
std::string describe(const onnx::NodeProto& node);

}  // namespace vision::quantize
