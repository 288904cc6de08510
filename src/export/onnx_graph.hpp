// A small builder over the ONNX protobuf classes: initializers, nodes with attributes, graph
// inputs and outputs. Private to src/export; knows nothing about LibTorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "vision/core/error.hpp"

namespace vision::onnx_export {

class OnnxGraph {
 public:
  OnnxGraph(std::string name, int opset);

  // A unique tensor name with this prefix.
  std::string fresh(const std::string& prefix);
  std::string add_float(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& values);
  std::string add_int64(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<std::int64_t>& values);
  // Adds a node; returns its (single) output name.
  std::string node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output_prefix);
  // Adds a node with `count` outputs (TopK's values and indices); returns their names.
  std::vector<std::string> node_outputs(const std::string& op, const std::vector<std::string>& inputs,
                                        const std::string& output_prefix, int count);
  // Attributes on the node added last.
  void attr_int(const std::string& name, std::int64_t value);
  void attr_ints(const std::string& name, const std::vector<std::int64_t>& values);
  void attr_string(const std::string& name, const std::string& value);
  void attr_float(const std::string& name, float value);

  // A negative dim is symbolic: named by `dim_names` at its index when given, else "batch".
  void input(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<std::string>& dim_names = {});
  void output(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<std::string>& dim_names = {},
              onnx::TensorProto::DataType type = onnx::TensorProto::FLOAT);
  void rename_output(const std::string& from, const std::string& to);
  void metadata(const std::string& key, const std::string& value);

  Expected<void> save(const std::filesystem::path& file) const;

 private:
  onnx::ModelProto m_model;
  onnx::GraphProto* m_graph;
  onnx::NodeProto* m_last = nullptr;
  std::map<std::string, int> m_counters;
};

}  // namespace vision::onnx_export
