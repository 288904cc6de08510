// Faster R-CNN's region proposal network, after torchvision 0.21 (models/detection/rpn.py,
// anchor_utils.py): anchors per feature map, the RPN head, proposal decoding and filtering and
// the RPN losses. Public for the export bridge; only LibTorch's nn headers come along.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "vision/train/faster_rcnn/detections.hpp"
#include "vision/train/faster_rcnn/features.hpp"

namespace vision::train::faster_rcnn {

// One entry per feature map, finest first: anchor sizes (px; the square root of the area) and
// aspect ratios (height / width). torchvision's ResNet FPNs: {{32},{64},{128},{256},{512}} with
// {0.5,1,2} on each of the 5 maps; mobilenet_v3_large_fpn: {32,64,128,256,512} on each of 3.
struct AnchorOptions {
  std::vector<std::vector<double>> sizes;
  std::vector<std::vector<double>> aspect_ratios;
};

// torchvision's AnchorGenerator. No parameters: the anchors depend only on the sizes of the
// padded batch and of the feature maps.
class AnchorGenerator {
 public:
  explicit AnchorGenerator(const AnchorOptions& options);
  // Anchors per location of each map: sizes × ratios.
  std::vector<int64_t> num_anchors_per_location() const;
  // Zero-centred anchors of each map [A, 4]: ratio-major, then size, rounded to whole pixels.
  const std::vector<torch::Tensor>& cell_anchors() const { return m_cell_anchors; }
  // The anchors of every image of the batch (all images share them): [Σ H·W·A, 4] x1 y1 x2 y2,
  // map after map, each location-major (row by row) and then anchor by anchor. A map's stride
  // is the batch size divided by the map size (integer division, per axis).
  torch::Tensor operator()(const ImageBatch& images, const FeatureMaps& features) const;

 private:
  std::vector<torch::Tensor> m_cell_anchors;
};

// Defaults are torchvision's FasterRCNN arguments (rpn_*).
struct RpnOptions {
  AnchorOptions anchors;
  int64_t in_channels = 256;
  int64_t conv_depth = 1;  // 3×3 conv + ReLU blocks before the 1×1 outputs; 2 in resnet50_fpn_v2
  double fg_iou_thresh = 0.7;
  double bg_iou_thresh = 0.3;
  int64_t batch_size_per_image = 256;
  double positive_fraction = 0.5;
  int64_t pre_nms_top_n_train = 2000;  // per feature map
  int64_t pre_nms_top_n_test = 1000;
  int64_t post_nms_top_n_train = 2000;  // per image
  int64_t post_nms_top_n_test = 1000;
  double nms_thresh = 0.7;
  double score_thresh = 0.0;  // 0.05 in the mobilenet_v3 variants
};

// torchvision's RPNHead: conv_depth × (3×3 conv + ReLU), shared by every map, then 1×1 convs
// for one objectness logit and four box deltas per anchor. Children: conv.<i>.0, cls_logits,
// bbox_pred (torchvision's state_dict names). Torchvision's v2 head has no norm layer either.
struct RpnHeadImpl : torch::nn::Module {
  RpnHeadImpl(int64_t in_channels, int64_t num_anchors, int64_t conv_depth);
  // Per map: objectness [N, A, H, W] and deltas [N, 4·A, H, W].
  std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> forward(
      const std::vector<torch::Tensor>& features);
  torch::nn::ModuleList conv{nullptr};  // of Sequential(Conv2d, ReLU)
  torch::nn::Conv2d cls_logits{nullptr}, bbox_pred{nullptr};
};
TORCH_MODULE(RpnHead);

// Training losses; undefined tensors in eval mode.
struct RpnLosses {
  torch::Tensor objectness;  // BCE with logits over the sampled anchors
  torch::Tensor box_reg;     // smooth L1 (β = 1/9) over the positives, summed / sampled count
};

struct RpnOutput {
  std::vector<torch::Tensor> boxes;   // per image [P, 4], P ≤ post_nms_top_n, no gradient
  std::vector<torch::Tensor> scores;  // per image [P], sigmoid objectness, highest first
  RpnLosses losses;
};

// torchvision's RegionProposalNetwork. The head is the only child ("head"); train/test
// top-n follow is_training().
struct RegionProposalNetworkImpl : torch::nn::Module {
  explicit RegionProposalNetworkImpl(const RpnOptions& options);
  // `targets` (one per image) are needed in training only.
  RpnOutput forward(const ImageBatch& images, const FeatureMaps& features,
                    const std::vector<ImageTargets>& targets = {});
  RpnOptions options;
  AnchorGenerator anchor_generator;
  RpnHead head{nullptr};
};
TORCH_MODULE(RegionProposalNetwork);

}  // namespace vision::train::faster_rcnn
