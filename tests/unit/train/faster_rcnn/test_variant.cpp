// The Faster R-CNN variant table: every name the config accepts has a spec, unknown names fail
// naming the key, and each spec holds the constants torchvision's builder sets (as
// bench/faster_rcnn/torchvision_reference.py prints them).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vision/core/config.hpp"
#include "vision/train/faster_rcnn/variant.hpp"

namespace frcnn = vision::train::faster_rcnn;

TEST(FasterRcnnVariant, EveryConfigValueHasASpec) {
  for (const auto& name : vision::faster_rcnn_variants()) {
    const auto spec = frcnn::variant_spec(name);
    ASSERT_TRUE(spec) << name << ": " << spec.error().message;
    EXPECT_EQ(spec->name, name == "resnet50" ? "resnet50_fpn" : name);
  }
}

TEST(FasterRcnnVariant, UnknownNameNamesTheKeyAndTheAcceptedValues) {
  const auto spec = frcnn::variant_spec("vgg16");
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().code, vision::ErrorCode::config);
  EXPECT_EQ(spec.error().message,
            "train.faster_rcnn.variant = \"vgg16\": must be one of "
            "mobilenet_v3|resnet50_fpn|resnet50_fpn_v2|resnet18_fpn|resnet50");
}

TEST(FasterRcnnVariant, BackbonesAndHeadsFollowTheBuilders) {
  struct Case {
    std::string name;
    frcnn::BackboneOptions backbone;
    size_t anchor_levels, anchors_per_location;
    int64_t rpn_conv_depth;
    double rpn_score_thresh;
    std::vector<std::string> box_roi_pool_names;
    frcnn::BoxHeadKind box_head;
  };
  using frcnn::BackboneKind;
  using frcnn::BoxHeadKind;
  using frcnn::NormKind;
  const std::vector<Case> cases = {
      {"mobilenet_v3", {BackboneKind::mobilenet_v3_large, NormKind::batch_norm, NormKind::none}, 3, 15, 1, 0.05,
       {"0", "1"}, BoxHeadKind::two_mlp},
      {"resnet50_fpn", {BackboneKind::resnet50, NormKind::batch_norm, NormKind::none}, 5, 3, 1, 0.0,
       {"0", "1", "2", "3"}, BoxHeadKind::two_mlp},
      {"resnet50_fpn_v2", {BackboneKind::resnet50, NormKind::batch_norm, NormKind::batch_norm}, 5, 3, 2, 0.0,
       {"0", "1", "2", "3"}, BoxHeadKind::conv_fc},
      {"resnet18_fpn", {BackboneKind::resnet18, NormKind::frozen_batch_norm, NormKind::none}, 5, 3, 1, 0.0,
       {"0", "1", "2", "3"}, BoxHeadKind::two_mlp},
  };
  for (const auto& c : cases) {
    const auto spec = vision::value_or_throw(frcnn::variant_spec(c.name));
    EXPECT_EQ(spec.backbone.kind, c.backbone.kind) << c.name;
    EXPECT_EQ(spec.backbone.body_norm, c.backbone.body_norm) << c.name;
    EXPECT_EQ(spec.backbone.fpn_norm, c.backbone.fpn_norm) << c.name;
    ASSERT_EQ(spec.anchor_sizes.size(), c.anchor_levels) << c.name;
    ASSERT_EQ(spec.aspect_ratios.size(), c.anchor_levels) << c.name;
    for (size_t level = 0; level < c.anchor_levels; ++level) {
      EXPECT_EQ(spec.anchor_sizes[level].size() * spec.aspect_ratios[level].size(), c.anchors_per_location);
      EXPECT_EQ(spec.aspect_ratios[level], (std::vector<double>{0.5, 1.0, 2.0}));
    }
    EXPECT_EQ(spec.rpn_conv_depth, c.rpn_conv_depth) << c.name;
    EXPECT_EQ(spec.rpn_score_thresh, c.rpn_score_thresh) << c.name;
    EXPECT_EQ(spec.box_roi_pool_names, c.box_roi_pool_names) << c.name;
    EXPECT_EQ(spec.box_head, c.box_head) << c.name;
  }
  EXPECT_EQ(vision::value_or_throw(frcnn::variant_spec("mobilenet_v3")).anchor_sizes[2],
            (std::vector<double>{32, 64, 128, 256, 512}));
  EXPECT_EQ(vision::value_or_throw(frcnn::variant_spec("resnet18_fpn")).anchor_sizes,
            (std::vector<std::vector<double>>{{32}, {64}, {128}, {256}, {512}}));
}

TEST(FasterRcnnVariant, SharedConstantsAreFasterRcnnDefaults) {
  for (const auto& name : {"mobilenet_v3", "resnet50_fpn", "resnet50_fpn_v2", "resnet18_fpn"}) {
    const auto s = vision::value_or_throw(frcnn::variant_spec(name));
    EXPECT_EQ(s.rpn_pre_nms_top_n_train, 2000);
    EXPECT_EQ(s.rpn_pre_nms_top_n_test, 1000);
    EXPECT_EQ(s.rpn_post_nms_top_n_train, 2000);
    EXPECT_EQ(s.rpn_post_nms_top_n_test, 1000);
    EXPECT_EQ(s.rpn_nms_thresh, 0.7);
    EXPECT_EQ(s.rpn_fg_iou_thresh, 0.7);
    EXPECT_EQ(s.rpn_bg_iou_thresh, 0.3);
    EXPECT_EQ(s.rpn_batch_size_per_image, 256);
    EXPECT_EQ(s.rpn_positive_fraction, 0.5);
    EXPECT_EQ(s.box_roi_pool_output_size, 7);
    EXPECT_EQ(s.box_roi_pool_sampling_ratio, 2);
    EXPECT_EQ(s.box_representation_size, 1024);
    EXPECT_EQ(s.box_score_thresh, 0.05);
    EXPECT_EQ(s.box_nms_thresh, 0.5);
    EXPECT_EQ(s.box_detections_per_img, 100);
    EXPECT_EQ(s.box_fg_iou_thresh, 0.5);
    EXPECT_EQ(s.box_bg_iou_thresh, 0.5);
    EXPECT_EQ(s.box_batch_size_per_image, 512);
    EXPECT_EQ(s.box_positive_fraction, 0.25);
    EXPECT_EQ(s.bbox_reg_weights, (std::array<double, 4>{10, 10, 5, 5}));
    EXPECT_EQ(s.transform.min_size, 800);
    EXPECT_EQ(s.transform.max_size, 1333);
    EXPECT_EQ(s.transform.size_divisible, 32);
  }
}
