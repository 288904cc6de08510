// FasterRCNN's forward: targets into the resized images' pixels and 1-based labels, the two
// stages, detections back to the input images' pixels and Vision's class ids.
#include "vision/train/faster_rcnn/faster_rcnn.hpp"

#include <torch/torch.h>

#include <array>

namespace vision::train::faster_rcnn {

HeadOptions head_options(const VariantSpec& spec, int64_t num_classes) {
  HeadOptions heads;
  auto& rpn = heads.rpn;
  rpn.anchors = {spec.anchor_sizes, spec.aspect_ratios};
  rpn.in_channels = BackboneWithFpnImpl::k_out_channels;
  rpn.conv_depth = spec.rpn_conv_depth;
  rpn.fg_iou_thresh = spec.rpn_fg_iou_thresh;
  rpn.bg_iou_thresh = spec.rpn_bg_iou_thresh;
  rpn.batch_size_per_image = spec.rpn_batch_size_per_image;
  rpn.positive_fraction = spec.rpn_positive_fraction;
  rpn.pre_nms_top_n_train = spec.rpn_pre_nms_top_n_train;
  rpn.pre_nms_top_n_test = spec.rpn_pre_nms_top_n_test;
  rpn.post_nms_top_n_train = spec.rpn_post_nms_top_n_train;
  rpn.post_nms_top_n_test = spec.rpn_post_nms_top_n_test;
  rpn.nms_thresh = spec.rpn_nms_thresh;
  rpn.score_thresh = spec.rpn_score_thresh;

  auto& roi = heads.roi_heads;
  roi.num_classes = num_classes + 1;
  roi.box_head = spec.box_head;
  roi.featmap_names = spec.box_roi_pool_names;
  roi.in_channels = BackboneWithFpnImpl::k_out_channels;
  roi.pool_size = spec.box_roi_pool_output_size;
  roi.sampling_ratio = spec.box_roi_pool_sampling_ratio;
  roi.representation_size = spec.box_representation_size;
  roi.fg_iou_thresh = spec.box_fg_iou_thresh;
  roi.bg_iou_thresh = spec.box_bg_iou_thresh;
  roi.batch_size_per_image = spec.box_batch_size_per_image;
  roi.positive_fraction = spec.box_positive_fraction;
  roi.bbox_reg_weights = spec.bbox_reg_weights;
  roi.score_thresh = spec.box_score_thresh;
  roi.nms_thresh = spec.box_nms_thresh;
  roi.detections_per_img = spec.box_detections_per_img;
  return heads;
}

std::vector<std::pair<std::string, torch::Tensor>> Losses::named() const {
  return {{"loss_objectness", loss_objectness},
          {"loss_rpn_box_reg", loss_rpn_box_reg},
          {"loss_classifier", loss_classifier},
          {"loss_box_reg", loss_box_reg}};
}

torch::Tensor Losses::total() const { return loss_objectness + loss_rpn_box_reg + loss_classifier + loss_box_reg; }

FasterRcnnImpl::FasterRcnnImpl(const VariantSpec& variant, int64_t classes, const TransformOptions& transform_options)
    : spec(variant), num_classes(classes), transform(transform_options) {
  TORCH_CHECK(num_classes >= 1, "FasterRcnn: needs at least one class, got ", num_classes);
  const auto heads = head_options(spec, num_classes);
  backbone = register_module("backbone", BackboneWithFpn(spec.backbone));
  rpn = register_module("rpn", RegionProposalNetwork(heads.rpn));
  roi_heads = register_module("roi_heads", RoiHeads(heads.roi_heads));
}

Output FasterRcnnImpl::forward(const std::vector<torch::Tensor>& images, const std::vector<ImageBoxes>& targets) {
  std::vector<std::array<int64_t, 2>> original_sizes;
  for (const auto& image : images) {
    TORCH_CHECK(image.dim() == 3 && image.size(0) == 3, "FasterRcnn: images must be [3, H, W], got ", image.sizes());
    original_sizes.push_back({image.size(1), image.size(2)});
  }
  const auto batch = transform_images(images, transform);
  const auto features = backbone(batch.tensors);

  Output out;
  if (!is_training()) {
    const auto proposals = rpn(batch, features);
    const auto heads = roi_heads(features, proposals.boxes, batch.sizes);
    for (size_t i = 0; i < images.size(); ++i) {
      const auto& detections = heads.detections[i];
      out.results.push_back({resize_boxes(detections.boxes, batch.sizes[i], original_sizes[i]),
                             detections.labels - 1, detections.scores});
    }
    return out;
  }

  TORCH_CHECK(targets.size() == images.size(), "FasterRcnn: training needs ", images.size(), " targets, got ",
              targets.size());
  std::vector<ImageTargets> resized_targets;
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto boxes = targets[i].boxes.to(images[i].options()).reshape({-1, 4});
    resized_targets.push_back({resize_boxes(boxes, original_sizes[i], batch.sizes[i]),
                               targets[i].classes.to(torch::kLong).reshape({-1}) + 1});
  }
  const auto proposals = rpn(batch, features, resized_targets);
  const auto heads = roi_heads(features, proposals.boxes, batch.sizes, resized_targets);
  out.losses = {proposals.losses.objectness, proposals.losses.box_reg, heads.losses.classifier,
                heads.losses.box_reg};
  return out;
}

}  // namespace vision::train::faster_rcnn
