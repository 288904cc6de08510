// The LibTorch side of the export: emits a YoloDetector's graph node by node, and opens a
// checkpoint for the export pipeline (CheckpointModel), keeping LibTorch's exceptions inside.
#include "torch_bridge.hpp"

#include <torch/torch.h>

#include <cmath>

#include "checkpoint_model.hpp"
#include "onnx_graph.hpp"
#include "vision/core/exception_error.hpp"
#include "vision/train/checkpoint.hpp"
#include "vision/train/yolo_layers.hpp"

namespace vision::onnx_export {

namespace {

std::vector<float> values_of(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

std::vector<std::int64_t> dims_of(const torch::Tensor& t) { return std::vector<std::int64_t>(t.sizes().begin(), t.sizes().end()); }

// LibTorch's exceptions end at the bridge: `step` says what failed.
template <class Body>
auto without_torch_exceptions(const std::string& step, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const c10::Error& e) {
    return fail(ErrorCode::runtime, step + " failed in LibTorch: " + e.what_without_backtrace());
  }
}

class Emitter {
 public:
  explicit Emitter(OnnxGraph& graph) : g(graph) {}

  std::string conv(const std::string& x, const torch::Tensor& weight, const torch::Tensor& bias, int stride) {
    const auto k = weight.size(2);
    const std::string w = g.add_float("w", dims_of(weight), values_of(weight));
    std::vector<std::string> inputs = {x, w};
    if (bias.defined()) inputs.push_back(g.add_float("b", {weight.size(0)}, values_of(bias)));
    const std::string y = g.node("Conv", inputs, "conv");
    g.attr_ints("kernel_shape", {k, k});
    g.attr_ints("strides", {stride, stride});
    g.attr_ints("pads", {k / 2, k / 2, k / 2, k / 2});
    g.attr_ints("dilations", {1, 1});
    g.attr_int("group", 1);
    return y;
  }

  // Conv with BatchNorm folded in, then SiLU as x · sigmoid(x).
  std::string conv_bn_silu(const std::string& x, const train::ConvBnSiluImpl& m) {
    const auto& bn = *m.bn;
    const double eps = bn.options.eps();
    const auto scale = bn.weight.detach() / torch::sqrt(bn.running_var.detach() + eps);
    const auto weight = m.conv->weight.detach() * scale.view({-1, 1, 1, 1});
    const auto bias = bn.bias.detach() - bn.running_mean.detach() * scale;
    const std::string y = conv(x, weight, bias, static_cast<int>(m.conv->options.stride()->at(0)));
    const std::string s = g.node("Sigmoid", {y}, "sigmoid");
    return g.node("Mul", {y, s}, "silu");
  }

  std::string slice(const std::string& x, std::int64_t start, std::int64_t end, std::int64_t axis) {
    return g.node("Slice", {x, g.add_int64("starts", {1}, {start}), g.add_int64("ends", {1}, {end}),
                            g.add_int64("axes", {1}, {axis})}, "slice");
  }

  std::string concat(const std::vector<std::string>& xs, std::int64_t axis) {
    const std::string y = g.node("Concat", xs, "concat");
    g.attr_int("axis", axis);
    return y;
  }

  std::string c2f(const std::string& x, train::C2fImpl& m) {
    const std::string a = conv_bn_silu(x, *m.cv1);
    std::vector<std::string> parts = {slice(a, 0, m.hidden, 1), slice(a, m.hidden, 2 * m.hidden, 1)};
    for (const auto& block : *m.m) {
      auto& b = *block->as<train::Bottleneck>();
      const std::string y = conv_bn_silu(conv_bn_silu(parts.back(), *b.cv1), *b.cv2);
      parts.push_back(b.add ? g.node("Add", {parts.back(), y}, "add") : y);
    }
    return conv_bn_silu(concat(parts, 1), *m.cv2);
  }

  std::string sppf(const std::string& x, train::SppfImpl& m) {
    const std::string a = conv_bn_silu(x, *m.cv1);
    std::vector<std::string> parts = {a};
    for (int i = 0; i < 3; ++i) {
      parts.push_back(g.node("MaxPool", {parts.back()}, "maxpool"));
      g.attr_ints("kernel_shape", {5, 5});
      g.attr_ints("strides", {1, 1});
      g.attr_ints("pads", {2, 2, 2, 2});
    }
    return conv_bn_silu(concat(parts, 1), *m.cv2);
  }

  std::string upsample(const std::string& x) {
    const std::string y = g.node("Resize", {x, "", g.add_float("scales", {4}, {1, 1, 2, 2})}, "upsample");
    g.attr_string("mode", "nearest");
    g.attr_string("coordinate_transformation_mode", "asymmetric");
    g.attr_string("nearest_mode", "floor");
    return y;
  }

  std::string reshape(const std::string& x, const std::vector<std::int64_t>& shape) {
    return g.node("Reshape", {x, g.add_int64("shape", {static_cast<std::int64_t>(shape.size())}, shape)}, "reshape");
  }

  std::string branch(const std::string& x, torch::nn::SequentialImpl& seq) {
    std::string y = x;
    for (size_t i = 0; i < seq.size(); ++i) {
      if (auto* c = seq.ptr(i)->as<train::ConvBnSilu>()) {
        y = conv_bn_silu(y, *c);
      } else {
        auto* final_conv = seq.ptr(i)->as<torch::nn::Conv2d>();
        y = conv(y, final_conv->weight, final_conv->bias, 1);
      }
    }
    return y;
  }

  OnnxGraph& g;
};

}  // namespace

Expected<void> write_yolo_onnx(train::YoloDetectorImpl& model, const OnnxExportOptions& options) {
  if (options.img_height % 32 != 0 || options.img_width % 32 != 0 || options.img_height <= 0 || options.img_width <= 0) {
    return fail(ErrorCode::config, "export image size " + std::to_string(options.img_width) + "x" +
                                       std::to_string(options.img_height) + ": must be positive multiples of 32");
  }
  torch::NoGradGuard no_grad;
  OnnxGraph graph("vision_yolo", options.opset);
  Emitter e(graph);
  auto& head = *model.head;
  const int nc = head.num_classes;
  const int reg_max = head.reg_max;
  graph.input("images", {-1, 3, options.img_height, options.img_width});

  const std::string p3 = e.c2f(e.conv_bn_silu(e.c2f(e.conv_bn_silu(e.conv_bn_silu("images", *model.b0), *model.b1), *model.b2), *model.b3), *model.b4);
  const std::string p4 = e.c2f(e.conv_bn_silu(p3, *model.b5), *model.b6);
  const std::string p5 = e.sppf(e.c2f(e.conv_bn_silu(p4, *model.b7), *model.b8), *model.b9);
  const std::string n4 = e.c2f(e.concat({e.upsample(p5), p4}, 1), *model.n12);
  const std::string out3 = e.c2f(e.concat({e.upsample(n4), p3}, 1), *model.n15);
  const std::string out4 = e.c2f(e.concat({e.conv_bn_silu(out3, *model.n16), n4}, 1), *model.n18);
  const std::string out5 = e.c2f(e.concat({e.conv_bn_silu(out4, *model.n19), p5}, 1), *model.n21);

  // Head: per stride [N, 4·reg_max + nc, h·w], then all anchors in a row.
  const std::int64_t channels = 4 * reg_max + nc;
  std::vector<std::string> levels;
  std::vector<float> anchor_x, anchor_y, stride_values;
  const std::vector<std::string> features = {out3, out4, out5};
  for (size_t i = 0; i < features.size(); ++i) {
    auto& box_branch = *head.box[i]->as<torch::nn::Sequential>();
    auto& cls_branch = *head.cls[i]->as<torch::nn::Sequential>();
    const std::string level = e.concat({e.branch(features[i], box_branch), e.branch(features[i], cls_branch)}, 1);
    levels.push_back(e.reshape(level, {0, channels, -1}));
    const int stride = static_cast<int>(head.strides[i]);
    const int h = options.img_height / stride, w = options.img_width / stride;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        anchor_x.push_back(static_cast<float>(x) + 0.5F);
        anchor_y.push_back(static_cast<float>(y) + 0.5F);
        stride_values.push_back(static_cast<float>(stride));
      }
    }
  }
  const auto anchors = static_cast<std::int64_t>(anchor_x.size());
  const std::string all = e.concat(levels, 2);
  const std::string box = e.slice(all, 0, 4 * reg_max, 1);
  const std::string cls = e.slice(all, 4 * reg_max, channels, 1);
  // DFL: [N, 4, reg_max, A] → [N, reg_max, 4, A] → softmax over the bins → 1×1 conv with
  // weights 0..reg_max-1 (the expectation) → [N, 4, A] distances in strides.
  const std::string bins = graph.node("Transpose", {e.reshape(box, {0, 4, reg_max, anchors})}, "transpose");
  graph.attr_ints("perm", {0, 2, 1, 3});
  const std::string probabilities = graph.node("Softmax", {bins}, "softmax");
  graph.attr_int("axis", 1);
  const std::string expected = e.conv(probabilities, head.dfl->weight, torch::Tensor(), 1);
  const std::string distances = e.reshape(expected, {0, 4, anchors});
  const std::string lt = e.slice(distances, 0, 2, 1);
  const std::string rb = e.slice(distances, 2, 4, 1);
  std::vector<float> points = anchor_x;
  points.insert(points.end(), anchor_y.begin(), anchor_y.end());
  const std::string anchor_points = graph.add_float("anchors", {1, 2, anchors}, points);
  const std::string strides = graph.add_float("strides", {1, 1, anchors}, stride_values);
  const std::string half = graph.add_float("half", {1}, {0.5F});
  const std::string center = graph.node(
      "Mul", {graph.node("Add", {anchor_points, graph.node("Mul", {graph.node("Sub", {rb, lt}, "sub"), half}, "mul")}, "add"), strides},
      "center");
  const std::string size = graph.node("Mul", {graph.node("Add", {lt, rb}, "add"), strides}, "size");
  const std::string scores = graph.node("Sigmoid", {cls}, "scores");
  const std::string output = e.concat({center, size, scores}, 1);
  graph.rename_output(output, "output0");
  graph.output("output0", {-1, 4 + nc, anchors});

  std::vector<std::string> names = options.class_names;
  for (int i = static_cast<int>(names.size()); i < nc; ++i) names.push_back("class" + std::to_string(i));
  graph.metadata("description", "Vision YOLOv8-style detector");
  graph.metadata("author", "vision");
  graph.metadata("task", "detect");
  graph.metadata("stride", "32");
  graph.metadata("batch", "1");
  graph.metadata("imgsz", "[" + std::to_string(options.img_height) + ", " + std::to_string(options.img_width) + "]");
  graph.metadata("names", ultralytics_names_text(names));
  graph.metadata("vision_version", VISION_VERSION);
  if (!options.run_id.empty()) graph.metadata("run_id", options.run_id);
  return graph.save(options.output);
}

struct CheckpointModel::Impl {
  std::filesystem::path file;
  CheckpointSummary summary;
  train::YoloDetector model{nullptr};
};

Expected<CheckpointModel> CheckpointModel::open(const std::filesystem::path& checkpoint) {
  return without_torch_exceptions("opening " + checkpoint.string(), [&]() -> Expected<CheckpointModel> {
    auto loaded = train::load_checkpoint(checkpoint);
    if (!loaded) return std::unexpected(loaded.error());
    auto impl = std::make_unique<Impl>();
    impl->file = checkpoint;
    impl->summary = {loaded->meta.names, loaded->meta.img_size, loaded->meta.model.scale, loaded->meta.epoch,
                     loaded->meta.run_id};
    impl->model = loaded->model;
    impl->model->to(torch::kCPU);
    impl->model->eval();
    return CheckpointModel(std::move(impl));
  });
}

CheckpointModel::CheckpointModel(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
CheckpointModel::CheckpointModel(CheckpointModel&&) noexcept = default;
CheckpointModel& CheckpointModel::operator=(CheckpointModel&&) noexcept = default;
CheckpointModel::~CheckpointModel() = default;

const CheckpointSummary& CheckpointModel::summary() const { return m_impl->summary; }

Expected<void> CheckpointModel::write_onnx(const OnnxExportOptions& options) {
  return without_torch_exceptions("writing " + options.output.string(),
                                  [&] { return write_yolo_onnx(*m_impl->model, options); });
}

Expected<std::vector<float>> CheckpointModel::infer(const float* nchw, int batch) {
  return without_torch_exceptions("running " + m_impl->file.string(), [&]() -> Expected<std::vector<float>> {
    torch::NoGradGuard no_grad;
    const auto size = m_impl->summary.img_size;
    const auto input = torch::from_blob(const_cast<float*>(nchw), {batch, 3, size, size}, torch::kFloat);
    const auto output = m_impl->model->head->decode(m_impl->model->forward(input)).contiguous();
    return std::vector<float>(output.data_ptr<float>(), output.data_ptr<float>() + output.numel());
  });
}

}  // namespace vision::onnx_export

namespace vision {

std::string ultralytics_names_text(const std::vector<std::string>& names) {
  std::string text = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    std::string escaped;
    for (char c : names[i]) {
      if (c == '\'' || c == '\\') escaped += '\\';
      escaped += c;
    }
    text += (i ? ", " : "") + std::to_string(i) + ": '" + escaped + "'";
  }
  return text + "}";
}

Expected<void> export_untrained_yolo(const YoloModelOptions& model_options, const OnnxExportOptions& options, std::uint64_t seed) {
  if (auto scale = yolo_scale(model_options.scale); !scale) return std::unexpected(scale.error());
  const std::string step = "writing " + options.output.string();
  try {
    return onnx_export::without_torch_exceptions(step, [&] {
      torch::manual_seed(seed);
      train::YoloDetector model(model_options);
      model->eval();
      return onnx_export::write_yolo_onnx(*model, options);
    });
  } catch (...) {
    return std::unexpected(error_from_current_exception(step + " failed"));
  }
}

}  // namespace vision
