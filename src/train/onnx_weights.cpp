// Reads the Conv weights of a YOLOv8 ONNX export in node order and loads them layer by layer.
#include "vision/train/onnx_weights.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "vision/train/yolo_layers.hpp"

namespace vision::train {

namespace {

// ONNX stores raw_data little-endian; it is copied as is.
static_assert(std::endian::native == std::endian::little);

// One conv layer of our model, as the import fills it.
struct Layer {
  std::string name;
  torch::nn::Conv2dImpl* conv = nullptr;
  torch::nn::BatchNorm2dImpl* bn = nullptr;  // null: a plain conv with its own bias
  bool class_output = false;
};

// Our conv layers in execution order, which is the exporters' node order. Registration order
// differs from it (C2f registers cv2 before its bottlenecks; the head registers every box branch
// before the class branches), so the order is spelled out here.
class LayerOrder {
 public:
  explicit LayerOrder(YoloDetectorImpl& model) {
    conv_bn("model_0", *model.b0);
    conv_bn("model_1", *model.b1);
    c2f("model_2", *model.b2);
    conv_bn("model_3", *model.b3);
    c2f("model_4", *model.b4);
    conv_bn("model_5", *model.b5);
    c2f("model_6", *model.b6);
    conv_bn("model_7", *model.b7);
    c2f("model_8", *model.b8);
    conv_bn("model_9.cv1", *model.b9->cv1);
    conv_bn("model_9.cv2", *model.b9->cv2);
    c2f("model_12", *model.n12);
    c2f("model_15", *model.n15);
    conv_bn("model_16", *model.n16);
    c2f("model_18", *model.n18);
    conv_bn("model_19", *model.n19);
    c2f("model_21", *model.n21);
    auto& head = *model.head;
    for (size_t i = 0; i < head.box->size(); ++i) {
      branch("model_22.cv2." + std::to_string(i), *head.box[i]->as<torch::nn::Sequential>(), false);
      branch("model_22.cv3." + std::to_string(i), *head.cls[i]->as<torch::nn::Sequential>(), true);
    }
  }
  std::vector<Layer> layers;

 private:
  void conv_bn(const std::string& name, ConvBnSiluImpl& m) {
    layers.push_back({name, m.conv.get(), m.bn.get()});
  }
  void c2f(const std::string& name, C2fImpl& m) {
    conv_bn(name + ".cv1", *m.cv1);
    for (size_t i = 0; i < m.m->size(); ++i) {
      auto& block = *m.m[i]->as<Bottleneck>();
      conv_bn(name + ".m." + std::to_string(i) + ".cv1", *block.cv1);
      conv_bn(name + ".m." + std::to_string(i) + ".cv2", *block.cv2);
    }
    conv_bn(name + ".cv2", *m.cv2);
  }
  void branch(const std::string& name, torch::nn::SequentialImpl& seq, bool classes) {
    for (size_t i = 0; i < seq.size(); ++i) {
      const std::string child = name + "." + std::to_string(i);
      if (auto* c = seq.ptr(i)->as<ConvBnSilu>()) {
        conv_bn(child, *c);
      } else {
        layers.push_back({child, seq.ptr(i)->as<torch::nn::Conv2d>(), nullptr, classes});
      }
    }
  }
};

// A tensor of the file under its graph name (a Constant's tensor usually has no name itself).
struct FileTensor {
  std::string name;
  const onnx::TensorProto* proto = nullptr;
};

// A Conv node of the file with its weight and (fused) bias.
struct FileConv {
  std::string node;
  FileTensor weight, bias;
};

std::string shape_text(const std::vector<std::int64_t>& dims) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

std::vector<std::int64_t> dims_of(const onnx::TensorProto& t) {
  return {t.dims().begin(), t.dims().end()};
}

Expected<onnx::ModelProto> read_model(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return fail(ErrorCode::not_found, file.string() + ": no such file (train.yolo.weights)");
  }
  std::ifstream in(file, std::ios::binary);
  onnx::ModelProto model;
  // Arbitrary bytes can parse as a message of unknown fields, hence the graph check.
  if (!in || !model.ParseFromIstream(&in) || !model.has_graph() || model.graph().node_size() == 0) {
    return fail(ErrorCode::invalid_data,
                file.string() + ": not an ONNX model (no graph could be read)");
  }
  return model;
}

// The file's Conv nodes in node order with their tensors, found among the initializers or
// the outputs of Constant nodes; the DFL projection (no bias, weight [1, bins, 1, 1]) is left out.
Expected<std::vector<FileConv>> file_convs(const onnx::GraphProto& graph, const std::string& file) {
  std::map<std::string, const onnx::TensorProto*> tensors;
  for (const auto& t : graph.initializer()) tensors[t.name()] = &t;
  for (const auto& node : graph.node()) {
    if (node.op_type() != "Constant" || node.output_size() != 1) continue;
    for (const auto& a : node.attribute()) {
      if (a.name() == "value" && a.has_t()) tensors[node.output(0)] = &a.t();
    }
  }
  const auto tensor = [&](const onnx::NodeProto& node, int input) -> Expected<FileTensor> {
    const auto it = tensors.find(node.input(input));
    if (it == tensors.end()) {
      return fail(ErrorCode::invalid_data, file + ": Conv node '" + node.name() + "' reads its " +
                                               (input == 1 ? "weight" : "bias") + " from '" +
                                               node.input(input) +
                                               "', which is neither an initializer nor a Constant");
    }
    return FileTensor{it->first, it->second};
  };
  std::vector<FileConv> convs;
  for (const auto& node : graph.node()) {
    if (node.op_type() != "Conv") continue;
    if (node.input_size() < 2) {
      return fail(ErrorCode::invalid_data,
                  file + ": Conv node '" + node.name() + "' has no weight input");
    }
    FileConv conv{node.name()};
    auto weight = tensor(node, 1);
    if (!weight) return std::unexpected(weight.error());
    conv.weight = *weight;
    if (node.input_size() >= 3 && !node.input(2).empty()) {
      auto bias = tensor(node, 2);
      if (!bias) return std::unexpected(bias.error());
      conv.bias = *bias;
    }
    const auto dims = dims_of(*conv.weight.proto);
    const bool dfl =
        !conv.bias.proto && dims.size() == 4 && dims[0] == 1 && dims[2] == 1 && dims[3] == 1;
    if (!dfl) convs.push_back(conv);
  }
  return convs;
}

Expected<torch::Tensor> to_tensor(const FileTensor& tensor, const std::string& file) {
  const onnx::TensorProto& t = *tensor.proto;
  const std::string where = file + ": tensor '" + tensor.name + "'";
  if (t.data_type() != onnx::TensorProto::FLOAT) {
    return fail(
        ErrorCode::invalid_data,
        where + " has ONNX data type " + std::to_string(t.data_type()) + ", expected float32 (1)");
  }
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    return fail(ErrorCode::invalid_data,
                where + " keeps its data in an external file, which the import does not read");
  }
  auto out = torch::empty(dims_of(t), torch::kFloat);
  const auto count = static_cast<size_t>(out.numel());
  if (t.raw_data().size() == count * sizeof(float)) {
    std::memcpy(out.data_ptr<float>(), t.raw_data().data(), count * sizeof(float));
  } else if (static_cast<size_t>(t.float_data_size()) == count) {
    std::copy(t.float_data().begin(), t.float_data().end(), out.data_ptr<float>());
  } else {
    return fail(ErrorCode::invalid_data, where + " does not hold the " + std::to_string(count) +
                                             " float values its shape " + shape_text(dims_of(t)) +
                                             " needs");
  }
  return out;
}

// A layer's new values, read and checked before anything in the model changes.
struct Load {
  const Layer* layer;
  torch::Tensor weight, bias;
};

}  // namespace

Expected<WeightsImportReport> import_onnx_weights(YoloDetectorImpl& model,
                                                  const std::filesystem::path& onnx_file) {
  const std::string file = onnx_file.string();
  auto onnx_model = read_model(onnx_file);
  if (!onnx_model) return std::unexpected(onnx_model.error());
  auto convs = file_convs(onnx_model->graph(), file);
  if (!convs) return std::unexpected(convs.error());
  const LayerOrder order(model);
  const std::string ours = std::string("the scale-'") + model.options.scale + "' model with " +
                           std::to_string(model.options.num_classes) + " classes";
  if (convs->size() != order.layers.size()) {
    return fail(ErrorCode::config, file + ": has " + std::to_string(convs->size()) +
                                       " Conv layers (DFL excluded), " + ours + " has " +
                                       std::to_string(order.layers.size()) +
                                       ": not a YOLOv8 export of this scale");
  }

  WeightsImportReport report;
  std::vector<Load> loads;
  for (size_t i = 0; i < convs->size(); ++i) {
    const FileConv& conv = (*convs)[i];
    const Layer& layer = order.layers[i];
    const auto file_dims = dims_of(*conv.weight.proto);
    const auto our_sizes = layer.conv->weight.sizes();
    const std::vector<std::int64_t> our_dims(our_sizes.begin(), our_sizes.end());
    if (file_dims != our_dims) {
      // Same input width and kernel, other output count: a class-output conv for another class
      // list. It keeps its initialisation; every other layer still loads.
      const bool other_classes =
          layer.class_output && file_dims.size() == 4 &&
          std::equal(file_dims.begin() + 1, file_dims.end(), our_dims.begin() + 1);
      if (other_classes) {
        report.head_classes_reset = true;
        ++report.convs_skipped;
        continue;
      }
      return fail(ErrorCode::config, file + ": initializer '" + conv.weight.name + "' has shape " +
                                         shape_text(file_dims) + ", but layer " + layer.name +
                                         " of " + ours + " expects " + shape_text(our_dims));
    }
    if (!conv.bias.proto) {
      return fail(ErrorCode::invalid_data,
                  file + ": Conv node '" + conv.node + "' has no bias; the import expects " +
                      "BatchNorm fused into each Conv, as Ultralytics exports it");
    }
    const std::vector<std::int64_t> bias_dims = {our_dims[0]};
    if (dims_of(*conv.bias.proto) != bias_dims) {
      return fail(ErrorCode::config, file + ": initializer '" + conv.bias.name + "' has shape " +
                                         shape_text(dims_of(*conv.bias.proto)) + ", but layer " +
                                         layer.name + " of " + ours + " expects " +
                                         shape_text(bias_dims));
    }
    auto weight = to_tensor(conv.weight, file);
    if (!weight) return std::unexpected(weight.error());
    auto bias = to_tensor(conv.bias, file);
    if (!bias) return std::unexpected(bias.error());
    loads.push_back({&layer, std::move(*weight), std::move(*bias)});
  }

  torch::NoGradGuard no_grad;
  for (const Load& load : loads) {
    load.layer->conv->weight.copy_(load.weight);
    if (auto* bn = load.layer->bn) {
      // The fused conv already holds BN's scale and shift; our BN becomes the identity plus
      // that shift, so the first forward in eval mode reproduces the exported model.
      bn->weight.fill_(1.0);
      bn->bias.copy_(load.bias);
      bn->running_mean.zero_();
      bn->running_var.fill_(1.0 - bn->options.eps());
    } else {
      load.layer->conv->bias.copy_(load.bias);
    }
    ++report.convs_loaded;
  }
  return report;
}

}  // namespace vision::train
