// LibTorch modules of the YOLOv8 architecture, in the pytorch/examples style: `FooImpl`
// holding children registered under stable names (they become checkpoint keys) plus
// TORCH_MODULE(Foo). Public for the export bridge, which walks these modules to write ONNX;
// only LibTorch's nn headers come along, never <torch/torch.h>.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <utility>
#include <vector>

#include "vision/train/yolo_model.hpp"

namespace vision::train {

// Conv2d (no bias, "same" padding) → BatchNorm (eps 1e-3, momentum 0.03) → SiLU.
struct ConvBnSiluImpl : torch::nn::Module {
  using BatchNormFunction = std::function<torch::Tensor(torch::nn::BatchNorm2dImpl&, const torch::Tensor&)>;
  ConvBnSiluImpl(int in, int out, int kernel = 1, int stride = 1);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  // Replaces bn's forward when set: a data-parallel training's synchronised BatchNorm, which
  // keeps bn's parameters and buffers (and so the checkpoint keys).
  BatchNormFunction batch_norm;
};
TORCH_MODULE(ConvBnSilu);

struct BottleneckImpl : torch::nn::Module {
  BottleneckImpl(int in, int out, bool shortcut);
  torch::Tensor forward(const torch::Tensor& x);
  ConvBnSilu cv1{nullptr}, cv2{nullptr};
  bool add;
};
TORCH_MODULE(Bottleneck);

// CSP bottleneck with two convolutions: split, n bottlenecks on one half, concat every step.
struct C2fImpl : torch::nn::Module {
  C2fImpl(int in, int out, int n, bool shortcut);
  torch::Tensor forward(const torch::Tensor& x);
  int hidden;
  ConvBnSilu cv1{nullptr}, cv2{nullptr};
  torch::nn::ModuleList m;
};
TORCH_MODULE(C2f);

// Spatial pyramid pooling, fast: three chained 5×5 max-pools, concatenated.
struct SppfImpl : torch::nn::Module {
  SppfImpl(int in, int out, int kernel = 5);
  torch::Tensor forward(const torch::Tensor& x);
  ConvBnSilu cv1{nullptr}, cv2{nullptr};
  torch::nn::MaxPool2d pool{nullptr};
};
TORCH_MODULE(Sppf);

// The head's maps laid out per anchor, as decode and the loss both read them.
struct AnchorGrid {
  torch::Tensor maps;     // [B, C, A]: all strides, anchors in row-major order per stride
  torch::Tensor points;   // [A, 2]: (x, y) cell centres in grid units
  torch::Tensor strides;  // [A, 1]
};
AnchorGrid anchor_grid(const std::vector<torch::Tensor>& raw, const std::vector<double>& strides);

// Decoupled head: per stride a box branch (4·reg_max distribution logits) and a class branch.
struct DetectHeadImpl : torch::nn::Module {
  DetectHeadImpl(int num_classes, int reg_max, const std::vector<int>& channels);
  // Raw maps per stride: [B, 4·reg_max + nc, H, W].
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& features);
  // Ultralytics' inference output: [B, 4 + nc, A] with cx, cy, w, h in input pixels and
  // sigmoid class scores.
  torch::Tensor decode(const std::vector<torch::Tensor>& raw) const;
  int num_classes, reg_max;
  std::vector<double> strides = {8, 16, 32};
  torch::nn::ModuleList box{nullptr}, cls{nullptr};
  torch::nn::Conv2d dfl{nullptr};  // fixed projection 0..reg_max-1, not trained
};
TORCH_MODULE(DetectHead);

struct YoloDetectorImpl : torch::nn::Module {
  explicit YoloDetectorImpl(const YoloModelOptions& options);
  std::vector<torch::Tensor> forward(const torch::Tensor& images);
  YoloModelOptions options;
  // Ultralytics' layer order: 0–9 backbone, 10–21 neck, 22 head.
  ConvBnSilu b0{nullptr}, b1{nullptr}, b3{nullptr}, b5{nullptr}, b7{nullptr};
  C2f b2{nullptr}, b4{nullptr}, b6{nullptr}, b8{nullptr};
  Sppf b9{nullptr};
  C2f n12{nullptr}, n15{nullptr}, n18{nullptr}, n21{nullptr};
  ConvBnSilu n16{nullptr}, n19{nullptr};
  DetectHead head{nullptr};
};
TORCH_MODULE(YoloDetector);

// Copies every parameter and buffer of `source` into the tensor of `target` with the same name
// and shape; the rest keep their values. Returns {copied, skipped} (counted on `source`).
std::pair<int, int> copy_matching(YoloDetectorImpl& target, YoloDetectorImpl& source);

}  // namespace vision::train
