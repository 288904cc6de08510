#include "onnx_graph.hpp"

#include <fstream>

namespace vision::onnx_export {

namespace {

// ONNX IR version that goes with an opset (ONNX's versioning table).
int ir_version_for(int opset) {
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

void set_type(onnx::ValueInfoProto* value, const std::string& name, const std::vector<std::int64_t>& dims,
              const std::vector<std::string>& dim_names, onnx::TensorProto::DataType type) {
  value->set_name(name);
  auto* tensor = value->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(type);
  auto* shape = tensor->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    auto* dim = shape->add_dim();
    if (dims[i] >= 0) dim->set_dim_value(dims[i]);
    else dim->set_dim_param(i < dim_names.size() ? dim_names[i] : "batch");
  }
}

}  // namespace

OnnxGraph::OnnxGraph(std::string name, int opset) {
  m_model.set_ir_version(ir_version_for(opset));
  m_model.set_producer_name("vision");
  auto* import = m_model.add_opset_import();
  import->set_domain("");
  import->set_version(opset);
  m_graph = m_model.mutable_graph();
  m_graph->set_name(std::move(name));
}

std::string OnnxGraph::fresh(const std::string& prefix) { return prefix + "_" + std::to_string(m_counters[prefix]++); }

std::string OnnxGraph::add_float(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& values) {
  auto* t = m_graph->add_initializer();
  const std::string unique = fresh(name);
  t->set_name(unique);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) t->add_dims(d);
  t->set_raw_data(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return unique;
}

std::string OnnxGraph::add_int64(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<std::int64_t>& values) {
  auto* t = m_graph->add_initializer();
  const std::string unique = fresh(name);
  t->set_name(unique);
  t->set_data_type(onnx::TensorProto::INT64);
  for (auto d : dims) t->add_dims(d);
  t->set_raw_data(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(std::int64_t));
  return unique;
}

std::string OnnxGraph::node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output_prefix) {
  m_last = m_graph->add_node();
  m_last->set_op_type(op);
  const std::string output = fresh(output_prefix);
  m_last->set_name(output + "_" + op);
  for (const auto& in : inputs) m_last->add_input(in);
  m_last->add_output(output);
  return output;
}

std::vector<std::string> OnnxGraph::node_outputs(const std::string& op, const std::vector<std::string>& inputs,
                                                const std::string& output_prefix, int count) {
  std::vector<std::string> outputs = {node(op, inputs, output_prefix)};
  for (int i = 1; i < count; ++i) {
    outputs.push_back(fresh(output_prefix));
    m_last->add_output(outputs.back());
  }
  return outputs;
}

void OnnxGraph::attr_int(const std::string& name, std::int64_t value) {
  auto* a = m_last->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void OnnxGraph::attr_ints(const std::string& name, const std::vector<std::int64_t>& values) {
  auto* a = m_last->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto v : values) a->add_ints(v);
}

void OnnxGraph::attr_string(const std::string& name, const std::string& value) {
  auto* a = m_last->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

void OnnxGraph::attr_float(const std::string& name, float value) {
  auto* a = m_last->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

void OnnxGraph::input(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<std::string>& dim_names) {
  set_type(m_graph->add_input(), name, dims, dim_names, onnx::TensorProto::FLOAT);
}

void OnnxGraph::output(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<std::string>& dim_names,
                       onnx::TensorProto::DataType type) {
  set_type(m_graph->add_output(), name, dims, dim_names, type);
}

void OnnxGraph::rename_output(const std::string& from, const std::string& to) {
  for (auto& n : *m_graph->mutable_node()) {
    for (auto& out : *n.mutable_output()) {
      if (out == from) out = to;
    }
  }
}

void OnnxGraph::metadata(const std::string& key, const std::string& value) {
  auto* prop = m_model.add_metadata_props();
  prop->set_key(key);
  prop->set_value(value);
}

Expected<void> OnnxGraph::save(const std::filesystem::path& file) const {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out || !m_model.SerializeToOstream(&out)) return fail(ErrorCode::io, "cannot write " + file.string());
  return {};
}

}  // namespace vision::onnx_export
