// The stages of the RPN (rpn.cpp) and of the RoI heads (roi_heads.cpp) as free functions, each
// with its own unit test; the modules only chain them. Private to src/train.
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "faster_rcnn/box_ops.hpp"
#include "vision/train/faster_rcnn/detections.hpp"
#include "vision/train/faster_rcnn/roi_heads.hpp"
#include "vision/train/faster_rcnn/rpn.hpp"

namespace vision::train::faster_rcnn {

using ImageSizes = std::vector<std::array<int64_t, 2>>;

// The RPN head's maps laid out per anchor in the AnchorGenerator's order: objectness per map
// [N, A, H, W] and deltas [N, 4·A, H, W] → {objectness [N, Σ H·W·A], deltas [N, Σ H·W·A, 4]}.
std::pair<torch::Tensor, torch::Tensor> flatten_rpn_outputs(
    const std::vector<torch::Tensor>& objectness, const std::vector<torch::Tensor>& deltas);

struct ProposalFilter {
  int64_t pre_nms_top_n;   // per map and image
  int64_t post_nms_top_n;  // per image
  double nms_thresh;
  double score_thresh;     // kept when sigmoid(objectness) >= score_thresh
  double min_size = 1e-3;  // torchvision's RegionProposalNetwork.min_size
};

// torchvision's filter_proposals: per map the pre_nms_top_n best logits, then per image clip
// to the image, drop boxes under min_size and scores under score_thresh, NMS within each map,
// keep post_nms_top_n. proposals [N, A, 4], objectness [N, A] (logits) → per image boxes, scores.
std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> filter_proposals(
    const torch::Tensor& proposals, const torch::Tensor& objectness, const ImageSizes& image_sizes,
    const std::vector<int64_t>& anchors_per_map, const ProposalFilter& filter);

// Each anchor's objectness label (1 matched, 0 background, -1 between thresholds) and the
// matched gt box, per image; an image without boxes is all background.
struct AnchorTargets {
  std::vector<torch::Tensor> labels;      // [A] float
  std::vector<torch::Tensor> matched_gt;  // [A, 4]
};
AnchorTargets assign_anchor_targets(const torch::Tensor& anchors,
                                    const std::vector<ImageTargets>& targets,
                                    const Matcher& matcher);

// The RPN losses over balanced samples of each image's anchors: objectness [N·A] logits,
// deltas [N·A, 4], labels and regression targets per image ([A], [A, 4]).
RpnLosses rpn_loss(const torch::Tensor& objectness, const torch::Tensor& deltas,
                   const std::vector<torch::Tensor>& labels,
                   const std::vector<torch::Tensor>& regression_targets,
                   int64_t batch_size_per_image, double positive_fraction);

// Proposals sampled for the box head in training, per image: gt boxes appended to the
// proposals, matched, sampled; labels 1-based (0 background) and encoded regression targets.
struct TrainingSamples {
  std::vector<torch::Tensor> proposals;           // [S, 4]
  std::vector<torch::Tensor> labels;              // [S] int64
  std::vector<torch::Tensor> regression_targets;  // [S, 4]
};
TrainingSamples select_training_samples(const std::vector<torch::Tensor>& proposals,
                                        const std::vector<ImageTargets>& targets,
                                        const Matcher& matcher, const BoxCoder& coder,
                                        int64_t batch_size_per_image, double positive_fraction);

// torchvision's fastrcnn_loss: class_logits [S, classes], box_regression [S, 4·classes] over
// all images' samples; labels and regression targets per image.
RoiHeadsLosses fastrcnn_loss(const torch::Tensor& class_logits, const torch::Tensor& box_regression,
                             const std::vector<torch::Tensor>& labels,
                             const std::vector<torch::Tensor>& regression_targets);

struct DetectionFilter {
  double score_thresh;
  double nms_thresh;
  int64_t detections_per_img;
  double min_size = 1e-2;  // torchvision's postprocess_detections
};

// torchvision's postprocess_detections: softmax, every class's box decoded from its deltas and
// clipped, background dropped, score > score_thresh, boxes under min_size dropped, NMS per
// class, the detections_per_img best.
std::vector<ImageDetections> postprocess_detections(const torch::Tensor& class_logits,
                                                    const torch::Tensor& box_regression,
                                                    const std::vector<torch::Tensor>& proposals,
                                                    const ImageSizes& image_sizes,
                                                    const BoxCoder& coder,
                                                    const DetectionFilter& filter);

}  // namespace vision::train::faster_rcnn
