// The whole Faster R-CNN model, torchvision's FasterRCNN (models/detection/generalized_rcnn.py):
// transform, backbone, rpn and roi_heads chained, with Vision's side of the contract — images in
// [0,1], boxes in the input image's pixels, 0-based class ids — at its edges.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "vision/train/faster_rcnn/backbone.hpp"
#include "vision/train/faster_rcnn/roi_heads.hpp"
#include "vision/train/faster_rcnn/rpn.hpp"
#include "vision/train/faster_rcnn/transform.hpp"
#include "vision/train/faster_rcnn/variant.hpp"

namespace vision::train::faster_rcnn {

// The options of the two heads for a variant and Vision's class count (the background class is
// added here): the one place a VariantSpec turns into RpnOptions and RoiHeadsOptions.
struct HeadOptions {
  RpnOptions rpn;
  RoiHeadsOptions roi_heads;
};
HeadOptions head_options(const VariantSpec& spec, int64_t num_classes);

// One image's ground truth as Vision holds it.
struct ImageBoxes {
  torch::Tensor boxes;    // [M, 4] float, x1 y1 x2 y2 in the input image's pixels
  torch::Tensor classes;  // [M] int64, Vision's 0-based class ids
};

// One image's detections as Vision reads them.
struct ImageResult {
  torch::Tensor boxes;    // [D, 4] float, x1 y1 x2 y2 in the input image's pixels
  torch::Tensor classes;  // [D] int64, Vision's 0-based class ids
  torch::Tensor scores;   // [D] float, highest first
};

// The four training losses under torchvision's names; their plain sum is what FasterRCNN's
// training reference minimises.
struct Losses {
  torch::Tensor loss_objectness, loss_rpn_box_reg, loss_classifier, loss_box_reg;
  std::vector<std::pair<std::string, torch::Tensor>> named() const;
  torch::Tensor total() const;
};

struct Output {
  Losses losses;                     // training mode only
  std::vector<ImageResult> results;  // eval mode only
};

// Children "backbone", "rpn", "roi_heads" (the transform has no parameters), so the state_dict
// keys are torchvision's.
struct FasterRcnnImpl : torch::nn::Module {
  // num_classes: Vision's class count, background excluded.
  FasterRcnnImpl(const VariantSpec& spec, int64_t num_classes, const TransformOptions& transform);
  // images: float [3, H, W] in [0, 1], any sizes. Training mode needs one `targets` entry per
  // image and returns the losses; eval mode returns each image's detections.
  Output forward(const std::vector<torch::Tensor>& images, const std::vector<ImageBoxes>& targets = {});
  VariantSpec spec;
  int64_t num_classes;
  TransformOptions transform;
  BackboneWithFpn backbone{nullptr};
  RegionProposalNetwork rpn{nullptr};
  RoiHeads roi_heads{nullptr};
};
TORCH_MODULE(FasterRcnn);

}  // namespace vision::train::faster_rcnn
