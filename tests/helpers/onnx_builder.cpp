// Writes the hand-checkable ONNX models of onnx_builder.hpp with the ONNX protobuf classes.
#include "helpers/onnx_builder.hpp"

#include <fstream>
#include <stdexcept>

#include <onnx/onnx_pb.h>

namespace vision::test {

namespace {

void set_shape(onnx::ValueInfoProto* value, const std::string& name, int elem_type,
               const std::vector<std::int64_t>& dims) {
  value->set_name(name);
  auto* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(elem_type);
  auto* shape = tensor->mutable_shape();
  for (auto d : dims) {
    auto* dim = shape->add_dim();
    if (d < 0) dim->set_dim_param("N" + std::to_string(shape->dim_size()));
    else dim->set_dim_value(d);
  }
}

void add_float_initializer(onnx::GraphProto* graph, const std::string& name,
                           const std::vector<std::int64_t>& dims, const std::vector<float>& values) {
  auto* t = graph->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) t->add_dims(d);
  for (float v : values) t->add_float_data(v);
}

void add_int64_initializer(onnx::GraphProto* graph, const std::string& name,
                           const std::vector<std::int64_t>& dims, const std::vector<std::int64_t>& values) {
  auto* t = graph->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  for (auto d : dims) t->add_dims(d);
  for (auto v : values) t->add_int64_data(v);
}

onnx::NodeProto* add_node(onnx::GraphProto* graph, const std::string& op,
                          const std::vector<std::string>& inputs, const std::string& output) {
  auto* node = graph->add_node();
  node->set_op_type(op);
  node->set_name(output + "_" + op);
  for (const auto& in : inputs) node->add_input(in);
  node->add_output(output);
  return node;
}

void add_ints_attribute(onnx::NodeProto* node, const std::string& name, const std::vector<std::int64_t>& values) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INTS);
  for (auto v : values) attr->add_ints(v);
}

void add_int_attribute(onnx::NodeProto* node, const std::string& name, std::int64_t value) {
  auto* attr = node->add_attribute();
  attr->set_name(name);
  attr->set_type(onnx::AttributeProto::INT);
  attr->set_i(value);
}

onnx::ModelProto new_model(const std::map<std::string, std::string>& metadata) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.set_producer_name("vision-tests");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(17);
  for (const auto& [key, value] : metadata) {
    auto* prop = model.add_metadata_props();
    prop->set_key(key);
    prop->set_value(value);
  }
  return model;
}

void save(const std::filesystem::path& file, const onnx::ModelProto& model) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!model.SerializeToOstream(&out)) throw std::runtime_error("cannot write " + file.string());
}

}  // namespace

void write_constant_yolo_model(const std::filesystem::path& file, const ConstantYoloModel& spec) {
  const std::int64_t d1 = spec.layout == YoloLayout::channels_first ? spec.channels : spec.anchors;
  const std::int64_t d2 = spec.layout == YoloLayout::channels_first ? spec.anchors : spec.channels;
  if (spec.output.size() != static_cast<size_t>(d1 * d2)) throw std::invalid_argument("output size");
  onnx::ModelProto model = new_model(spec.metadata);
  auto* graph = model.mutable_graph();
  graph->set_name("constant_yolo");
  set_shape(graph->add_input(), "images", onnx::TensorProto::FLOAT,
            {spec.dynamic_batch ? -1 : 1, 3, spec.input_height, spec.input_width});
  // mean over C, H, W → [N, 1, 1, 1] → [N, 1, 1]
  add_ints_attribute(add_node(graph, "ReduceMean", {"images"}, "mean4"), "axes", {1, 2, 3});
  add_int64_initializer(graph, "shape3", {3}, {-1, 1, 1});
  add_node(graph, "Reshape", {"mean4", "shape3"}, "mean");
  add_float_initializer(graph, "constant", {1, d1, d2}, spec.output);
  std::vector<float> gain = spec.brightness_gain.empty() ? std::vector<float>(spec.output.size(), 0.0F) : spec.brightness_gain;
  add_float_initializer(graph, "gain", {1, d1, d2}, gain);
  add_node(graph, "Mul", {"mean", "gain"}, "scaled");
  add_node(graph, "Add", {"scaled", "constant"}, "output0");
  set_shape(graph->add_output(), "output0", onnx::TensorProto::FLOAT, {spec.dynamic_batch ? -1 : 1, d1, d2});
  save(file, model);
}

void write_constant_rcnn_model(const std::filesystem::path& file, const std::vector<float>& boxes,
                               const std::vector<std::int64_t>& labels, const std::vector<float>& scores,
                               const std::map<std::string, std::string>& metadata) {
  const auto k = static_cast<std::int64_t>(scores.size());
  onnx::ModelProto model = new_model(metadata);
  auto* graph = model.mutable_graph();
  graph->set_name("constant_rcnn");
  set_shape(graph->add_input(), "image", onnx::TensorProto::FLOAT, {3, -1, -1});
  auto* mean = add_node(graph, "ReduceMean", {"image"}, "mean");
  add_ints_attribute(mean, "axes", {0, 1, 2});
  add_int_attribute(mean, "keepdims", 0);
  add_float_initializer(graph, "zero", {}, {0.0F});
  add_node(graph, "Mul", {"mean", "zero"}, "nothing");
  add_float_initializer(graph, "boxes_value", {k, 4}, boxes);
  add_float_initializer(graph, "scores_value", {k}, scores);
  add_int64_initializer(graph, "labels_value", {k}, labels);
  add_node(graph, "Add", {"boxes_value", "nothing"}, "boxes");
  add_node(graph, "Add", {"scores_value", "nothing"}, "scores");
  add_node(graph, "Identity", {"labels_value"}, "labels");
  set_shape(graph->add_output(), "boxes", onnx::TensorProto::FLOAT, {k, 4});
  set_shape(graph->add_output(), "labels", onnx::TensorProto::INT64, {k});
  set_shape(graph->add_output(), "scores", onnx::TensorProto::FLOAT, {k});
  save(file, model);
}

}  // namespace vision::test
