// Faster R-CNN's backbones as torchvision builds them without pretrained weights: a MobileNetV3-Large
// or ResNet body under `body`, a feature pyramid under `fpn`. Children carry torchvision's names, so
// parameter names equal a torchvision state_dict's (backbone.body.layer1.0.conv1.weight,
// backbone.fpn.inner_blocks.0.0.weight, …). Public for the exporter; LibTorch's nn headers only.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "vision/train/faster_rcnn/features.hpp"

namespace vision::train::faster_rcnn {

enum class BackboneKind { mobilenet_v3_large, resnet50, resnet18 };

// batch_norm: nn.BatchNorm2d (eps 1e-5, momentum 0.1), what the detection builders pass without
// weights. frozen_batch_norm: torchvision's FrozenBatchNorm2d, fixed statistics and affine
// buffers, resnet_fpn_backbone's default.
enum class NormKind { none, batch_norm, frozen_batch_norm };

enum class Activation { none, relu, hardswish };

// Without weights torchvision's builders train every backbone layer (trainable_layers falls back
// to its maximum), so nothing here is frozen but FrozenBatchNorm2d's buffers.
struct BackboneOptions {
  BackboneKind kind = BackboneKind::mobilenet_v3_large;
  NormKind body_norm = NormKind::batch_norm;
  NormKind fpn_norm = NormKind::none;  // fasterrcnn_resnet50_fpn_v2: batch_norm
};

// BatchNorm2d whose statistics and affine terms are buffers, never trained: y = x·scale + shift.
struct FrozenBatchNorm2dImpl : torch::nn::Module {
  explicit FrozenBatchNorm2dImpl(int64_t channels, double eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x);
  double eps;
  torch::Tensor weight, bias, running_mean, running_var;
};
TORCH_MODULE(FrozenBatchNorm2d);

// A BatchNorm2d or FrozenBatchNorm2d for `channels` (empty for NormKind::none).
torch::nn::AnyModule make_norm(NormKind kind, int64_t channels);

// torchvision's Conv2dNormActivation: conv "0", norm "1" (the activation has no parameters and is
// no child). Padding keeps the size at stride 1; the conv has a bias only without a norm.
struct ConvNormActivationOptions {
  int64_t in = 0, out = 0, kernel = 3, stride = 1, groups = 1;
  NormKind norm = NormKind::batch_norm;
  Activation activation = Activation::relu;
};

struct ConvNormActivationImpl : torch::nn::Module {
  explicit ConvNormActivationImpl(const ConvNormActivationOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  ConvNormActivationOptions options;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::AnyModule norm;
};
TORCH_MODULE(ConvNormActivation);

// MobileNetV3's squeeze-and-excitation: channel weights from the pooled map (ReLU, Hardsigmoid).
struct SqueezeExcitationImpl : torch::nn::Module {
  SqueezeExcitationImpl(int64_t channels, int64_t squeeze_channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(SqueezeExcitation);

// One row of MobileNetV3-Large's table (the paper's Table 1, torchvision's InvertedResidualConfig).
struct InvertedResidualConfig {
  int64_t in, kernel, expanded, out;
  bool squeeze_excitation;
  Activation activation;
  int64_t stride;
};

// Expand (1×1, when the width changes) → depthwise k×k → optional SE → project (1×1, no
// activation) as `block`, plus the input when stride 1 keeps the width.
struct InvertedResidualImpl : torch::nn::Module {
  InvertedResidualImpl(const InvertedResidualConfig& config, NormKind norm);
  torch::Tensor forward(const torch::Tensor& x);
  bool residual;
  torch::nn::Sequential block;
};
TORCH_MODULE(InvertedResidual);

// The trunk under the FPN: returns the maps the FPN reads, finest first.
struct BackboneBody : torch::nn::Module {
  virtual std::vector<torch::Tensor> forward(const torch::Tensor& images) = 0;
  // Channels of each returned map, in the same order.
  virtual std::vector<int64_t> returned_channels() const = 0;
};

// MobileNetV3-Large's `features` as children "0".."16"; returns the outputs of "13" and "16"
// (the last two of torchvision's stages 0, 2, 4, 7, 13, 16: 160 and 960 channels, both at
// stride 32), as _mobilenet_extractor does for the FPN.
struct MobileNetV3BodyImpl : BackboneBody {
  explicit MobileNetV3BodyImpl(NormKind norm);
  std::vector<torch::Tensor> forward(const torch::Tensor& images) override;
  std::vector<int64_t> returned_channels() const override;
  std::vector<torch::nn::AnyModule> layers;
};
TORCH_MODULE(MobileNetV3Body);

// ResNet's BasicBlock (ResNet-18: two 3×3 convs) or Bottleneck (ResNet-50: 1×1, 3×3 with the
// stride, 1×1 to 4× the width), with a 1×1 `downsample` when the shape changes.
struct ResNetBlockImpl : torch::nn::Module {
  ResNetBlockImpl(int64_t in, int64_t planes, int64_t stride, bool bottleneck, NormKind norm);
  torch::Tensor forward(const torch::Tensor& x);
  bool bottleneck;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::AnyModule bn1, bn2, bn3;
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(ResNetBlock);

// conv1 (7×7 stride 2), bn1, ReLU, 3×3 max-pool, layer1..layer4; returns the four layers' outputs
// (strides 4, 8, 16, 32). torchvision's avgpool and fc are not part of the detection body.
struct ResNetBodyImpl : BackboneBody {
  ResNetBodyImpl(BackboneKind kind, NormKind norm);
  std::vector<torch::Tensor> forward(const torch::Tensor& images) override;
  std::vector<int64_t> returned_channels() const override;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::AnyModule bn1;
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  std::vector<int64_t> channels;
};
TORCH_MODULE(ResNetBody);

// Top-down feature pyramid: a 1×1 lateral conv per input ("inner_blocks"), nearest upsampling
// and a sum, then a 3×3 conv per level ("layer_blocks"); LastLevelMaxPool adds "pool" (the
// coarsest map subsampled by 2).
struct FeaturePyramidNetworkImpl : torch::nn::Module {
  FeaturePyramidNetworkImpl(const std::vector<int64_t>& in_channels, int64_t out_channels, NormKind norm);
  FeatureMaps forward(const std::vector<torch::Tensor>& features);
  torch::nn::ModuleList inner_blocks{nullptr}, layer_blocks{nullptr};
};
TORCH_MODULE(FeaturePyramidNetwork);

// torchvision's BackboneWithFPN: `body` then `fpn`, 256 channels on every map.
struct BackboneWithFpnImpl : torch::nn::Module {
  explicit BackboneWithFpnImpl(const BackboneOptions& options);
  FeatureMaps forward(const torch::Tensor& images);
  static constexpr int64_t k_out_channels = 256;
  BackboneOptions options;
  std::shared_ptr<BackboneBody> body;
  FeaturePyramidNetwork fpn{nullptr};
};
TORCH_MODULE(BackboneWithFpn);

}  // namespace vision::train::faster_rcnn
