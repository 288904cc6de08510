// Faster R-CNN's second stage, after torchvision 0.21 (ops/poolers.py, models/detection/
// roi_heads.py, faster_rcnn.py): multi-scale RoIAlign, the box heads, the predictor, the RoI
// losses and the post-processing to detections. Public for the export bridge; only LibTorch's
// nn headers come along.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "vision/train/faster_rcnn/detections.hpp"
#include "vision/train/faster_rcnn/features.hpp"

namespace vision::train::faster_rcnn {

// torchvision's MultiScaleRoIAlign: each box is pooled from one of the named maps, chosen by
// the FPN paper's rule floor(4 + log2(√area / 224) + 1e-6) clamped to the maps' levels (the
// levels come from each map's scale, height / largest image height rounded to a power of 2).
// RoIAlign with aligned = false: ONNX RoiAlign, mode "avg", "output_half_pixel". No parameters.
struct MultiScaleRoiAlignImpl : torch::nn::Module {
  MultiScaleRoiAlignImpl(std::vector<std::string> featmap_names, int64_t output_size,
                         int64_t sampling_ratio);
  // boxes: per image [K_i, 4] in image pixels; sizes: each image's {h, w} → [Σ K_i, C, S, S].
  torch::Tensor forward(const FeatureMaps& features, const std::vector<torch::Tensor>& boxes,
                        const std::vector<std::array<int64_t, 2>>& image_sizes);
  std::vector<std::string> featmap_names;
  int64_t output_size, sampling_ratio;
};
TORCH_MODULE(MultiScaleRoiAlign);

// torchvision's TwoMLPHead: flatten, fc6 + ReLU, fc7 + ReLU.
struct TwoMlpHeadImpl : torch::nn::Module {
  TwoMlpHeadImpl(int64_t in_features, int64_t representation_size);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc6{nullptr}, fc7{nullptr};
};
TORCH_MODULE(TwoMlpHead);

// torchvision's FastRCNNConvFCHead (resnet50_fpn_v2): 3×3 conv (no bias) + BatchNorm + ReLU
// blocks, flatten, then Linear + ReLU. torchvision builds it as one nn.Sequential, so the
// children are named by position: "0".."n-1" the conv blocks (each .0 conv, .1 norm), "n" the
// flatten (no parameters, not registered), "n+1" the linear layer.
struct FastRcnnConvFcHeadImpl : torch::nn::Module {
  FastRcnnConvFcHeadImpl(int64_t in_channels, int64_t resolution,
                         const std::vector<int64_t>& conv_channels, int64_t fc_size);
  torch::Tensor forward(const torch::Tensor& x);
  std::vector<torch::nn::Sequential> convs;
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(FastRcnnConvFcHead);

// torchvision's FastRCNNPredictor: class logits (background + classes) and per-class deltas.
struct FastRcnnPredictorImpl : torch::nn::Module {
  FastRcnnPredictorImpl(int64_t in_features, int64_t num_classes);
  std::pair<torch::Tensor, torch::Tensor> forward(
      const torch::Tensor& x);  // [K, classes], [K, 4·classes]
  torch::nn::Linear cls_score{nullptr}, bbox_pred{nullptr};
};
TORCH_MODULE(FastRcnnPredictor);

enum class BoxHeadKind {
  two_mlp,  // TwoMLPHead(256·7·7, 1024): mobilenet_v3, resnet50_fpn, resnet18_fpn
  conv_fc,  // FastRCNNConvFCHead((256,7,7), [256]×4, [1024], BatchNorm2d): resnet50_fpn_v2
};

// Defaults are torchvision's FasterRCNN arguments (box_*).
struct RoiHeadsOptions {
  int64_t num_classes = 2;  // background included: Vision's class count + 1
  BoxHeadKind box_head = BoxHeadKind::two_mlp;
  // Maps absent from the FPN are skipped ("2" and "3" in mobilenet_v3).
  std::vector<std::string> featmap_names = {"0", "1", "2", "3"};
  int64_t in_channels = 256;
  int64_t pool_size = 7;
  int64_t sampling_ratio = 2;
  int64_t representation_size = 1024;
  double fg_iou_thresh = 0.5;
  double bg_iou_thresh = 0.5;
  int64_t batch_size_per_image = 512;
  double positive_fraction = 0.25;
  std::array<double, 4> bbox_reg_weights = {10.0, 10.0, 5.0, 5.0};
  double score_thresh = 0.05;
  double nms_thresh = 0.5;
  int64_t detections_per_img = 100;
};

// Training losses; undefined tensors in eval mode.
struct RoiHeadsLosses {
  torch::Tensor classifier;  // cross-entropy over the sampled proposals
  torch::Tensor box_reg;     // smooth L1 (β = 1/9) of the positives' class deltas / sampled count
};

struct RoiHeadsOutput {
  std::vector<ImageDetections> detections;  // eval mode only
  RoiHeadsLosses losses;                    // training mode only
};

// torchvision's RoIHeads for boxes. Children: box_roi_pool, box_head, box_predictor.
struct RoiHeadsImpl : torch::nn::Module {
  explicit RoiHeadsImpl(const RoiHeadsOptions& options);
  // proposals: the RPN's boxes per image. `targets` (one per image) are needed in training only.
  RoiHeadsOutput forward(const FeatureMaps& features, const std::vector<torch::Tensor>& proposals,
                         const std::vector<std::array<int64_t, 2>>& image_sizes,
                         const std::vector<ImageTargets>& targets = {});
  // Box features [K, representation_size] of the boxes (per image), through pool and head.
  torch::Tensor box_features(const FeatureMaps& features, const std::vector<torch::Tensor>& boxes,
                             const std::vector<std::array<int64_t, 2>>& image_sizes);
  RoiHeadsOptions options;
  MultiScaleRoiAlign box_roi_pool{nullptr};
  TwoMlpHead two_mlp_head{nullptr};  // registered as "box_head" when options.box_head is two_mlp
  FastRcnnConvFcHead conv_fc_head{
      nullptr};  // registered as "box_head" when options.box_head is conv_fc
  FastRcnnPredictor box_predictor{nullptr};
};
TORCH_MODULE(RoiHeads);

}  // namespace vision::train::faster_rcnn
