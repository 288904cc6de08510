// The four Faster R-CNN variants of train.faster_rcnn.variant and every constant torchvision's
// builder sets for each, called with weights=None, weights_backbone=None (training from scratch).
// Field names follow FasterRCNN's keyword arguments so each value can be traced to torchvision.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vision/core/error.hpp"
#include "vision/train/faster_rcnn/backbone.hpp"
#include "vision/train/faster_rcnn/roi_heads.hpp"
#include "vision/train/faster_rcnn/transform.hpp"

namespace vision::train::faster_rcnn {

struct VariantSpec {
  std::string name;  // the canonical name: "resnet50" reads as "resnet50_fpn"
  BackboneOptions backbone;

  // Anchors: per feature map (finest first, "pool" last), the sizes and the aspect ratios;
  // every location gets sizes × ratios anchors.
  std::vector<std::vector<double>> anchor_sizes;
  std::vector<std::vector<double>> aspect_ratios;
  int64_t rpn_conv_depth = 1;  // 3×3 conv + ReLU layers of RPNHead before its two 1×1 outputs

  int64_t rpn_pre_nms_top_n_train = 2000;
  int64_t rpn_pre_nms_top_n_test = 1000;
  int64_t rpn_post_nms_top_n_train = 2000;
  int64_t rpn_post_nms_top_n_test = 1000;
  double rpn_nms_thresh = 0.7;
  double rpn_fg_iou_thresh = 0.7;
  double rpn_bg_iou_thresh = 0.3;
  int64_t rpn_batch_size_per_image = 256;
  double rpn_positive_fraction = 0.5;
  double rpn_score_thresh = 0.0;

  // MultiScaleRoIAlign over the maps the backbone has of torchvision's "0".."3".
  std::vector<std::string> box_roi_pool_names = {"0", "1", "2", "3"};
  int64_t box_roi_pool_output_size = 7;
  int64_t box_roi_pool_sampling_ratio = 2;
  BoxHeadKind box_head = BoxHeadKind::two_mlp;
  int64_t box_representation_size = 1024;
  double box_score_thresh = 0.05;
  double box_nms_thresh = 0.5;
  int64_t box_detections_per_img = 100;
  double box_fg_iou_thresh = 0.5;
  double box_bg_iou_thresh = 0.5;
  int64_t box_batch_size_per_image = 512;
  double box_positive_fraction = 0.25;
  std::array<double, 4> bbox_reg_weights = {10.0, 10.0, 5.0, 5.0};

  // torchvision's min_size/max_size defaults; a run takes them from train.img_size
  // (transform_options_for_img_size).
  TransformOptions transform;
};

// The spec of a train.faster_rcnn.variant value; any name outside faster_rcnn_variants()
// (vision/core/config.hpp) is an ErrorCode::config error naming the key and those values.
Expected<VariantSpec> variant_spec(std::string_view name);

}  // namespace vision::train::faster_rcnn
