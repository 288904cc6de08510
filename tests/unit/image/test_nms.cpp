// Box IoU and non-maximum suppression (class-aware, thresholds, max detections).
#include <gtest/gtest.h>

#include "vision/image/nms.hpp"

using vision::NmsOptions;
using vision::ScoredBox;

TEST(BoxIou, HandComputedCases) {
  EXPECT_FLOAT_EQ(vision::box_iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.0F);
  EXPECT_FLOAT_EQ(vision::box_iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.0F / 150.0F);
  EXPECT_FLOAT_EQ(vision::box_iou({0, 0, 10, 10}, {10, 0, 20, 10}), 0.0F);  // touching edges
  EXPECT_FLOAT_EQ(vision::box_iou({0, 0, 10, 10}, {20, 20, 30, 30}), 0.0F);
  EXPECT_FLOAT_EQ(vision::box_iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.0F);  // degenerate
}

TEST(Nms, KeepsHighestScoreAmongOverlaps) {
  const std::vector<ScoredBox> boxes = {{{0, 0, 10, 10}, 0.6F, 0}, {{1, 0, 11, 10}, 0.9F, 0}, {{50, 50, 60, 60}, 0.3F, 0}};
  EXPECT_EQ(vision::nms(boxes, {}), (std::vector<int>{1, 2}));
}

TEST(Nms, IsClassAwareByDefault) {
  const std::vector<ScoredBox> boxes = {{{0, 0, 10, 10}, 0.9F, 0}, {{0, 0, 10, 10}, 0.8F, 1}};
  EXPECT_EQ(vision::nms(boxes, {}).size(), 2U);
  NmsOptions agnostic;
  agnostic.class_aware = false;
  EXPECT_EQ(vision::nms(boxes, agnostic), std::vector<int>{0});
}

TEST(Nms, IouThresholdEdges) {
  // IoU of these two is exactly 50 / 150 = 1/3.
  const std::vector<ScoredBox> boxes = {{{0, 0, 10, 10}, 0.9F, 0}, {{5, 0, 15, 10}, 0.8F, 0}};
  struct Case {
    float threshold;
    size_t kept;
  };
  for (const Case& c : {Case{0.30F, 1}, Case{0.34F, 2}, Case{0.7F, 2}, Case{0.0F, 1}, Case{1.0F, 2}}) {
    NmsOptions options;
    options.iou_threshold = c.threshold;
    EXPECT_EQ(vision::nms(boxes, options).size(), c.kept) << "threshold " << c.threshold;
  }
}

TEST(Nms, MaxDetectionsKeepsTheBest) {
  std::vector<ScoredBox> boxes;
  for (int i = 0; i < 10; ++i) boxes.push_back({{i * 20.0F, 0, i * 20.0F + 10, 10}, 0.1F * static_cast<float>(i), 0});
  NmsOptions options;
  options.max_detections = 3;
  EXPECT_EQ(vision::nms(boxes, options), (std::vector<int>{9, 8, 7}));
}

TEST(Nms, EmptyInputGivesNothing) { EXPECT_TRUE(vision::nms({}, {}).empty()); }
