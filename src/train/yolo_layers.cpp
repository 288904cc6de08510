// The YOLOv8 modules, the anchor grid and decode, the scales and the parameter count.
#include "vision/train/yolo_layers.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace vision::train {

namespace {
int make_divisible(double x, int divisor = 8) { return static_cast<int>(std::ceil(x / divisor)) * divisor; }
}  // namespace

ConvBnSiluImpl::ConvBnSiluImpl(int in, int out, int kernel, int stride) {
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                                        .stride(stride).padding(kernel / 2).bias(false)));
  bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(out).eps(1e-3).momentum(0.03)));
}

torch::Tensor ConvBnSiluImpl::forward(const torch::Tensor& x) {
  const auto y = conv(x);
  return torch::silu(batch_norm ? batch_norm(*bn, y) : bn(y));
}

BottleneckImpl::BottleneckImpl(int in, int out, bool shortcut) : add(shortcut && in == out) {
  cv1 = register_module("cv1", ConvBnSilu(in, out, 3));
  cv2 = register_module("cv2", ConvBnSilu(out, out, 3));
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  auto y = cv2(cv1(x));
  return add ? x + y : y;
}

C2fImpl::C2fImpl(int in, int out, int n, bool shortcut) : hidden(out / 2) {
  cv1 = register_module("cv1", ConvBnSilu(in, 2 * hidden, 1));
  cv2 = register_module("cv2", ConvBnSilu((2 + n) * hidden, out, 1));
  m = register_module("m", torch::nn::ModuleList());
  for (int i = 0; i < n; ++i) m->push_back(Bottleneck(hidden, hidden, shortcut));
}

torch::Tensor C2fImpl::forward(const torch::Tensor& x) {
  auto parts = cv1(x).chunk(2, 1);
  std::vector<torch::Tensor> y(parts.begin(), parts.end());
  for (const auto& block : *m) y.push_back(block->as<Bottleneck>()->forward(y.back()));
  return cv2(torch::cat(y, 1));
}

SppfImpl::SppfImpl(int in, int out, int kernel) {
  const int hidden = in / 2;
  cv1 = register_module("cv1", ConvBnSilu(in, hidden, 1));
  cv2 = register_module("cv2", ConvBnSilu(hidden * 4, out, 1));
  pool = register_module("m", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(kernel).stride(1).padding(kernel / 2)));
}

torch::Tensor SppfImpl::forward(const torch::Tensor& x) {
  auto a = cv1(x);
  auto b = pool(a);
  auto c = pool(b);
  return cv2(torch::cat({a, b, c, pool(c)}, 1));
}

DetectHeadImpl::DetectHeadImpl(int nc, int rm, const std::vector<int>& channels) : num_classes(nc), reg_max(rm) {
  const int box_hidden = std::max({16, channels[0] / 4, reg_max * 4});
  const int cls_hidden = std::max(channels[0], std::min(num_classes, 100));
  box = register_module("cv2", torch::nn::ModuleList());
  cls = register_module("cv3", torch::nn::ModuleList());
  for (int c : channels) {
    box->push_back(torch::nn::Sequential(ConvBnSilu(c, box_hidden, 3), ConvBnSilu(box_hidden, box_hidden, 3),
                                         torch::nn::Conv2d(torch::nn::Conv2dOptions(box_hidden, 4 * reg_max, 1))));
    cls->push_back(torch::nn::Sequential(ConvBnSilu(c, cls_hidden, 3), ConvBnSilu(cls_hidden, cls_hidden, 3),
                                         torch::nn::Conv2d(torch::nn::Conv2dOptions(cls_hidden, num_classes, 1))));
  }
  dfl = register_module("dfl", torch::nn::Conv2d(torch::nn::Conv2dOptions(reg_max, 1, 1).bias(false)));
  torch::NoGradGuard no_grad;
  // Ultralytics' bias_init: box logits start at 1, class logits at the prior of about five
  // objects per 640-pixel image, so an untrained head proposes few boxes.
  for (size_t i = 0; i < channels.size(); ++i) {
    box[i]->as<torch::nn::Sequential>()->ptr(2)->as<torch::nn::Conv2d>()->bias.fill_(1.0);
    const double cells = std::pow(640.0 / strides[i], 2);
    cls[i]->as<torch::nn::Sequential>()->ptr(2)->as<torch::nn::Conv2d>()->bias.fill_(std::log(5.0 / num_classes / cells));
  }
  dfl->weight.copy_(torch::arange(reg_max, torch::kFloat).view({1, reg_max, 1, 1}));
  dfl->weight.set_requires_grad(false);
}

std::vector<torch::Tensor> DetectHeadImpl::forward(const std::vector<torch::Tensor>& features) {
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < features.size(); ++i) {
    out.push_back(torch::cat({box[i]->as<torch::nn::Sequential>()->forward(features[i]),
                              cls[i]->as<torch::nn::Sequential>()->forward(features[i])}, 1));
  }
  return out;
}

AnchorGrid anchor_grid(const std::vector<torch::Tensor>& raw, const std::vector<double>& strides) {
  const auto batch = raw[0].size(0);
  const auto channels = raw[0].size(1);
  std::vector<torch::Tensor> flat, points, stride_values;
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto h = raw[i].size(2), w = raw[i].size(3);
    flat.push_back(raw[i].reshape({batch, channels, -1}));  // a copy when the maps are channels-last
    const auto ys = torch::arange(h, raw[i].options()) + 0.5;
    const auto xs = torch::arange(w, raw[i].options()) + 0.5;
    const auto grid = torch::meshgrid({ys, xs}, "ij");
    points.push_back(torch::stack({grid[1].reshape(-1), grid[0].reshape(-1)}, -1));
    stride_values.push_back(torch::full({h * w, 1}, strides[i], raw[i].options()));
  }
  return {torch::cat(flat, 2), torch::cat(points, 0), torch::cat(stride_values, 0)};
}

torch::Tensor DetectHeadImpl::decode(const std::vector<torch::Tensor>& raw) const {
  const auto batch = raw[0].size(0);
  const auto grid = anchor_grid(raw, strides);
  const auto anchors = grid.maps.size(2);
  auto split = grid.maps.split({4 * reg_max, num_classes}, 1);
  // DFL: softmax over the reg_max bins, expectation via the fixed 1×1 projection.
  auto distribution = split[0].view({batch, 4, reg_max, anchors}).transpose(2, 1).softmax(1);
  auto distances = const_cast<torch::nn::Conv2dImpl&>(*dfl).forward(distribution).reshape({batch, 4, anchors});
  const auto points = grid.points.t().unsqueeze(0);  // [1, 2, A]
  const auto stride = grid.strides.t();              // [1, A]
  auto lt = distances.slice(1, 0, 2);
  auto rb = distances.slice(1, 2, 4);
  auto center = (points + (rb - lt) / 2) * stride;
  auto size = (lt + rb) * stride;
  return torch::cat({center, size, split[1].sigmoid()}, 1);
}

YoloDetectorImpl::YoloDetectorImpl(const YoloModelOptions& o) : options(o) {
  const YoloScale s = value_or_throw(yolo_scale(o.scale));
  const auto ch = [&](int c) { return make_divisible(std::min(c, s.max_channels) * s.width); };
  const auto depth = [&](int n) { return std::max(static_cast<int>(std::lround(n * s.depth)), 1); };
  b0 = register_module("model_0", ConvBnSilu(3, ch(64), 3, 2));
  b1 = register_module("model_1", ConvBnSilu(ch(64), ch(128), 3, 2));
  b2 = register_module("model_2", C2f(ch(128), ch(128), depth(3), true));
  b3 = register_module("model_3", ConvBnSilu(ch(128), ch(256), 3, 2));
  b4 = register_module("model_4", C2f(ch(256), ch(256), depth(6), true));
  b5 = register_module("model_5", ConvBnSilu(ch(256), ch(512), 3, 2));
  b6 = register_module("model_6", C2f(ch(512), ch(512), depth(6), true));
  b7 = register_module("model_7", ConvBnSilu(ch(512), ch(1024), 3, 2));
  b8 = register_module("model_8", C2f(ch(1024), ch(1024), depth(3), true));
  b9 = register_module("model_9", Sppf(ch(1024), ch(1024), 5));
  n12 = register_module("model_12", C2f(ch(1024) + ch(512), ch(512), depth(3), false));
  n15 = register_module("model_15", C2f(ch(512) + ch(256), ch(256), depth(3), false));
  n16 = register_module("model_16", ConvBnSilu(ch(256), ch(256), 3, 2));
  n18 = register_module("model_18", C2f(ch(256) + ch(512), ch(512), depth(3), false));
  n19 = register_module("model_19", ConvBnSilu(ch(512), ch(512), 3, 2));
  n21 = register_module("model_21", C2f(ch(512) + ch(1024), ch(1024), depth(3), false));
  head = register_module("model_22", DetectHead(o.num_classes, o.reg_max, std::vector<int>{ch(256), ch(512), ch(1024)}));
}

std::vector<torch::Tensor> YoloDetectorImpl::forward(const torch::Tensor& images) {
  const auto upsample = [](const torch::Tensor& x) {
    return torch::nn::functional::interpolate(
        x, torch::nn::functional::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest));
  };
  auto p3 = b4(b3(b2(b1(b0(images)))));
  auto p4 = b6(b5(p3));
  auto p5 = b9(b8(b7(p4)));
  auto n4 = n12(torch::cat({upsample(p5), p4}, 1));
  auto out3 = n15(torch::cat({upsample(n4), p3}, 1));
  auto out4 = n18(torch::cat({n16(out3), n4}, 1));
  auto out5 = n21(torch::cat({n19(out4), p5}, 1));
  return head->forward({out3, out4, out5});
}

std::pair<int, int> copy_matching(YoloDetectorImpl& target, YoloDetectorImpl& source) {
  torch::NoGradGuard no_grad;
  auto destination = target.named_parameters(true);
  auto buffers = target.named_buffers(true);
  int copied = 0, skipped = 0;
  const auto copy_all = [&](const torch::OrderedDict<std::string, torch::Tensor>& from, torch::OrderedDict<std::string, torch::Tensor>& to) {
    for (const auto& item : from) {
      auto* match = to.find(item.key());
      if (match != nullptr && match->sizes() == item.value().sizes()) {
        match->copy_(item.value());
        ++copied;
      } else {
        ++skipped;
      }
    }
  };
  copy_all(source.named_parameters(true), destination);
  copy_all(source.named_buffers(true), buffers);
  return {copied, skipped};
}

}  // namespace vision::train

namespace vision {

Expected<YoloScale> yolo_scale(char scale) {
  switch (scale) {
    case 'n': return YoloScale{0.33, 0.25, 1024};
    case 's': return YoloScale{0.33, 0.50, 1024};
    case 'm': return YoloScale{0.67, 0.75, 768};
    default: return fail(ErrorCode::config, std::string("train.yolo.model_scale = \"") + scale + "\": must be one of n|s|m");
  }
}

Expected<std::int64_t> yolo_parameter_count(const YoloModelOptions& options) {
  if (auto s = yolo_scale(options.scale); !s) return std::unexpected(s.error());
  train::YoloDetector model(options);
  std::int64_t count = 0;
  for (const auto& p : model->parameters()) count += p.numel();
  return count;
}

}  // namespace vision
