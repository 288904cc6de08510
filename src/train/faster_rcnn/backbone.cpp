// Faster R-CNN's backbones: MobileNetV3-Large and ResNet-18/50 bodies, the FPN, and
// torchvision's initialisation of each (its from-scratch starting point).
#include "vision/train/faster_rcnn/backbone.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <string>

namespace vision::train::faster_rcnn {

namespace {
namespace F = torch::nn::functional;

// torchvision's _make_divisible: the nearest multiple of 8, never more than 10 % below `value`.
int64_t make_divisible(int64_t value) {
  const int64_t rounded = std::max<int64_t>(8, (value + 4) / 8 * 8);
  return 10 * rounded < 9 * value ? rounded + 8 : rounded;
}

// In place for ReLU, as torchvision's inplace=True: `x` is always a fresh conv or norm output,
// and ReLU's backward reads only its result.
torch::Tensor activate(torch::Tensor x, Activation activation) {
  switch (activation) {
    case Activation::relu: return x.relu_();
    case Activation::hardswish: return torch::hardswish(x);
    case Activation::none: break;
  }
  return x;
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding((kernel - 1) / 2).bias(false));
}

// Spells the options as a braced list, which ModuleHolder's forwarding constructor cannot take.
ConvNormActivation conv_norm_activation(const ConvNormActivationOptions& options) {
  return ConvNormActivation(options);
}

// Every conv below `module` gets `init_weight` and a zero bias; BatchNorm keeps LibTorch's ones
// and zeros, which torchvision sets too.
void init_convs(torch::nn::Module& module, void (*init_weight)(torch::Tensor&)) {
  torch::NoGradGuard no_grad;
  for (auto& child : module.modules(/*include_self=*/false)) {
    if (auto* c = child->as<torch::nn::Conv2d>()) {
      init_weight(c->weight);
      if (c->bias.defined()) c->bias.zero_();
    }
  }
}

// MobileNetV3 and ResNet: He-normal by fan-out.
void he_normal_fan_out(torch::Tensor& weight) {
  torch::nn::init::kaiming_normal_(weight, 0.0, torch::kFanOut, torch::kReLU);
}

// The FPN: He-uniform with a = 1 by fan-in.
void he_uniform_a1(torch::Tensor& weight) {
  torch::nn::init::kaiming_uniform_(weight, 1.0, torch::kFanIn, torch::kLeakyReLU);
}

// MobileNetV3-Large: {in, kernel, expanded, out, SE, activation, stride}, torchvision's table.
constexpr Activation k_re = Activation::relu;
constexpr Activation k_hs = Activation::hardswish;
const InvertedResidualConfig k_mobilenet_v3_large[] = {
    {16, 3, 16, 16, false, k_re, 1},    {16, 3, 64, 24, false, k_re, 2},   {24, 3, 72, 24, false, k_re, 1},
    {24, 5, 72, 40, true, k_re, 2},     {40, 5, 120, 40, true, k_re, 1},   {40, 5, 120, 40, true, k_re, 1},
    {40, 3, 240, 80, false, k_hs, 2},   {80, 3, 200, 80, false, k_hs, 1},  {80, 3, 184, 80, false, k_hs, 1},
    {80, 3, 184, 80, false, k_hs, 1},   {80, 3, 480, 112, true, k_hs, 1},  {112, 3, 672, 112, true, k_hs, 1},
    {112, 5, 672, 160, true, k_hs, 2},  {160, 5, 960, 160, true, k_hs, 1}, {160, 5, 960, 160, true, k_hs, 1},
};
// The children of `features` the FPN reads, and the width of the last 1×1 conv (6 × 160).
constexpr size_t k_mobilenet_fine = 13, k_mobilenet_coarse = 16;
constexpr int64_t k_mobilenet_last_channels = 960;

}  // namespace

FrozenBatchNorm2dImpl::FrozenBatchNorm2dImpl(int64_t channels, double eps_) : eps(eps_) {
  weight = register_buffer("weight", torch::ones({channels}));
  bias = register_buffer("bias", torch::zeros({channels}));
  running_mean = register_buffer("running_mean", torch::zeros({channels}));
  running_var = register_buffer("running_var", torch::ones({channels}));
}

torch::Tensor FrozenBatchNorm2dImpl::forward(const torch::Tensor& x) {
  const auto scale = weight * (running_var + eps).rsqrt();
  const auto shift = bias - running_mean * scale;
  return x * scale.reshape({1, -1, 1, 1}) + shift.reshape({1, -1, 1, 1});
}

torch::nn::AnyModule make_norm(NormKind kind, int64_t channels) {
  switch (kind) {
    case NormKind::batch_norm: return torch::nn::AnyModule(torch::nn::BatchNorm2d(channels));
    case NormKind::frozen_batch_norm: return torch::nn::AnyModule(FrozenBatchNorm2d(channels));
    case NormKind::none: break;
  }
  return {};
}

namespace {
// make_norm registered under `name` on `owner` (nothing for NormKind::none).
torch::nn::AnyModule add_norm(torch::nn::Module& owner, std::string name, NormKind kind, int64_t channels) {
  auto norm = make_norm(kind, channels);
  if (!norm.is_empty()) owner.register_module(std::move(name), norm.ptr());
  return norm;
}
}  // namespace

ConvNormActivationImpl::ConvNormActivationImpl(const ConvNormActivationOptions& options_) : options(options_) {
  conv = register_module("0", torch::nn::Conv2d(torch::nn::Conv2dOptions(options.in, options.out, options.kernel)
                                                    .stride(options.stride)
                                                    .padding((options.kernel - 1) / 2)
                                                    .groups(options.groups)
                                                    .bias(options.norm == NormKind::none)));
  norm = add_norm(*this, "1", options.norm, options.out);
}

torch::Tensor ConvNormActivationImpl::forward(const torch::Tensor& x) {
  auto y = conv(x);
  if (!norm.is_empty()) y = norm.forward(y);
  return activate(y, options.activation);
}

SqueezeExcitationImpl::SqueezeExcitationImpl(int64_t channels, int64_t squeeze_channels) {
  fc1 = register_module("fc1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, squeeze_channels, 1)));
  fc2 = register_module("fc2", torch::nn::Conv2d(torch::nn::Conv2dOptions(squeeze_channels, channels, 1)));
}

torch::Tensor SqueezeExcitationImpl::forward(const torch::Tensor& x) {
  const auto pooled = torch::adaptive_avg_pool2d(x, {1, 1});
  return torch::hardsigmoid(fc2(torch::relu(fc1(pooled)))) * x;
}

InvertedResidualImpl::InvertedResidualImpl(const InvertedResidualConfig& c, NormKind norm)
    : residual(c.stride == 1 && c.in == c.out) {
  block = register_module("block", torch::nn::Sequential());
  if (c.expanded != c.in) {
    block->push_back(conv_norm_activation({c.in, c.expanded, 1, 1, 1, norm, c.activation}));
  }
  block->push_back(conv_norm_activation({c.expanded, c.expanded, c.kernel, c.stride, c.expanded, norm, c.activation}));
  if (c.squeeze_excitation) block->push_back(SqueezeExcitation(c.expanded, make_divisible(c.expanded / 4)));
  block->push_back(conv_norm_activation({c.expanded, c.out, 1, 1, 1, norm, Activation::none}));
}

torch::Tensor InvertedResidualImpl::forward(const torch::Tensor& x) {
  auto y = block->forward(x);
  return residual ? y + x : y;
}

MobileNetV3BodyImpl::MobileNetV3BodyImpl(NormKind norm) {
  layers.emplace_back(conv_norm_activation({3, k_mobilenet_v3_large[0].in, 3, 2, 1, norm, Activation::hardswish}));
  for (const auto& config : k_mobilenet_v3_large) layers.emplace_back(InvertedResidual(config, norm));
  const int64_t last_in = std::end(k_mobilenet_v3_large)[-1].out;
  layers.emplace_back(conv_norm_activation({last_in, k_mobilenet_last_channels, 1, 1, 1, norm, Activation::hardswish}));
  for (size_t i = 0; i < layers.size(); ++i) register_module(std::to_string(i), layers[i].ptr());
  init_convs(*this, he_normal_fan_out);
}

std::vector<torch::Tensor> MobileNetV3BodyImpl::forward(const torch::Tensor& images) {
  std::vector<torch::Tensor> returned;
  auto x = images;
  for (size_t i = 0; i < layers.size(); ++i) {
    x = layers[i].forward(x);
    if (i == k_mobilenet_fine || i == k_mobilenet_coarse) returned.push_back(x);
  }
  return returned;
}

std::vector<int64_t> MobileNetV3BodyImpl::returned_channels() const {
  return {k_mobilenet_v3_large[k_mobilenet_fine - 1].out, k_mobilenet_last_channels};
}

ResNetBlockImpl::ResNetBlockImpl(int64_t in, int64_t planes, int64_t stride, bool bottleneck_, NormKind norm)
    : bottleneck(bottleneck_) {
  const int64_t out = bottleneck ? planes * 4 : planes;
  // torchvision's ResNet v1.5: a bottleneck strides in its 3×3 conv, a basic block in its first.
  conv1 = register_module("conv1", bottleneck ? conv(in, planes, 1) : conv(in, planes, 3, stride));
  bn1 = add_norm(*this, "bn1", norm, planes);
  conv2 = register_module("conv2", bottleneck ? conv(planes, planes, 3, stride) : conv(planes, planes, 3));
  bn2 = add_norm(*this, "bn2", norm, planes);
  if (bottleneck) {
    conv3 = register_module("conv3", conv(planes, out, 1));
    bn3 = add_norm(*this, "bn3", norm, out);
  }
  if (stride != 1 || in != out) {
    downsample = register_module("downsample", torch::nn::Sequential(conv(in, out, 1, stride), make_norm(norm, out)));
  }
}

torch::Tensor ResNetBlockImpl::forward(const torch::Tensor& x) {
  // In-place ReLUs on fresh norm outputs and on the sum, as torchvision's.
  auto y = bn1.forward(conv1(x)).relu_();
  y = bn2.forward(conv2(y));
  if (bottleneck) y = bn3.forward(conv3(y.relu_()));
  return (y + (downsample ? downsample->forward(x) : x)).relu_();
}

ResNetBodyImpl::ResNetBodyImpl(BackboneKind kind, NormKind norm) {
  const bool bottleneck = kind == BackboneKind::resnet50;
  const std::vector<int64_t> depths = bottleneck ? std::vector<int64_t>{3, 4, 6, 3} : std::vector<int64_t>{2, 2, 2, 2};
  conv1 = register_module("conv1", conv(3, 64, 7, 2));
  bn1 = add_norm(*this, "bn1", norm, 64);
  int64_t in = 64;
  torch::nn::Sequential* stages[] = {&layer1, &layer2, &layer3, &layer4};
  for (size_t s = 0; s < 4; ++s) {
    const int64_t planes = int64_t{64} << s;
    torch::nn::Sequential stage;
    for (int64_t b = 0; b < depths[s]; ++b) {
      stage->push_back(ResNetBlock(in, planes, b == 0 && s > 0 ? 2 : 1, bottleneck, norm));
      in = bottleneck ? planes * 4 : planes;
    }
    *stages[s] = register_module("layer" + std::to_string(s + 1), stage);
    channels.push_back(in);
  }
  init_convs(*this, he_normal_fan_out);
}

std::vector<torch::Tensor> ResNetBodyImpl::forward(const torch::Tensor& images) {
  auto x = bn1.forward(conv1(images)).relu_();
  x = torch::max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
  std::vector<torch::Tensor> returned;
  for (auto* stage : {&layer1, &layer2, &layer3, &layer4}) {
    x = (*stage)->forward(x);
    returned.push_back(x);
  }
  return returned;
}

std::vector<int64_t> ResNetBodyImpl::returned_channels() const { return channels; }

FeaturePyramidNetworkImpl::FeaturePyramidNetworkImpl(const std::vector<int64_t>& in_channels, int64_t out_channels,
                                                     NormKind norm) {
  inner_blocks = register_module("inner_blocks", torch::nn::ModuleList());
  layer_blocks = register_module("layer_blocks", torch::nn::ModuleList());
  for (const int64_t in : in_channels) {
    inner_blocks->push_back(conv_norm_activation({in, out_channels, 1, 1, 1, norm, Activation::none}));
    layer_blocks->push_back(conv_norm_activation({out_channels, out_channels, 3, 1, 1, norm, Activation::none}));
  }
  init_convs(*this, he_uniform_a1);
}

FeatureMaps FeaturePyramidNetworkImpl::forward(const std::vector<torch::Tensor>& features) {
  const size_t levels = features.size();
  FeatureMaps out;
  out.maps.resize(levels);
  auto inner = [&](size_t i, const torch::Tensor& x) { return inner_blocks[i]->as<ConvNormActivation>()->forward(x); };
  auto layer = [&](size_t i, const torch::Tensor& x) { return layer_blocks[i]->as<ConvNormActivation>()->forward(x); };
  auto last_inner = inner(levels - 1, features.back());
  out.maps[levels - 1] = layer(levels - 1, last_inner);
  for (size_t i = levels - 1; i-- > 0;) {
    const auto lateral = inner(i, features[i]);
    const std::vector<int64_t> size = {lateral.size(2), lateral.size(3)};
    last_inner = lateral + F::interpolate(last_inner, F::InterpolateFuncOptions().size(size).mode(torch::kNearest));
    out.maps[i] = layer(i, last_inner);
  }
  for (size_t i = 0; i < levels; ++i) out.names.push_back(std::to_string(i));
  // LastLevelMaxPool: a 1×1 max-pool of stride 2, i.e. every other pixel of the coarsest map.
  out.names.emplace_back("pool");
  out.maps.push_back(torch::max_pool2d(out.maps.back(), {1, 1}, {2, 2}));
  return out;
}

BackboneWithFpnImpl::BackboneWithFpnImpl(const BackboneOptions& options_) : options(options_) {
  if (options.kind == BackboneKind::mobilenet_v3_large) {
    body = register_module("body", MobileNetV3Body(options.body_norm).ptr());
  } else {
    body = register_module("body", ResNetBody(options.kind, options.body_norm).ptr());
  }
  fpn = register_module("fpn", FeaturePyramidNetwork(body->returned_channels(), k_out_channels, options.fpn_norm));
}

FeatureMaps BackboneWithFpnImpl::forward(const torch::Tensor& images) { return fpn(body->forward(images)); }

}  // namespace vision::train::faster_rcnn
