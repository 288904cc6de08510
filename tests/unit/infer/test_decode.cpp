// Output decoders: boxes-labels-scores layouts and the candidate cap before NMS.
#include <gtest/gtest.h>

#include <algorithm>

#include "vision/infer/decode.hpp"

using vision::DecodeOptions;

TEST(DecodeYolov8, KeepsTheBestClassAboveTheThreshold) {
  // [4+2, 3]: rows cx, cy, w, h, class0, class1
  const std::vector<float> out = {32, 33, 10,  40, 40, 30,  20, 20, 8,  10, 10, 8,
                                  0.9F, 0.1F, 0.2F,  0.1F, 0.05F, 0.6F};
  const auto boxes = vision::decode_yolov8(out.data(), 6, 3, {0.25F, 100});
  ASSERT_EQ(boxes.size(), 2U);
  EXPECT_EQ(boxes[0].class_id, 0);
  EXPECT_FLOAT_EQ(boxes[0].score, 0.9F);
  EXPECT_EQ(boxes[0].xyxy, (std::array<float, 4>{22, 35, 42, 45}));
  EXPECT_EQ(boxes[1].class_id, 1);
  EXPECT_FLOAT_EQ(boxes[1].score, 0.6F);
  EXPECT_EQ(boxes[1].xyxy, (std::array<float, 4>{6, 26, 14, 34}));
}

TEST(DecodeYolov8, TransposedLayoutGivesTheSameBoxes) {
  const std::vector<float> out = {32, 40, 20, 10, 0.9F, 0.1F,  33, 40, 20, 10, 0.1F, 0.05F};
  const auto boxes = vision::decode_yolov8_transposed(out.data(), 2, 6, {0.25F, 100});
  ASSERT_EQ(boxes.size(), 1U);
  EXPECT_EQ(boxes[0].xyxy, (std::array<float, 4>{22, 35, 42, 45}));
}

TEST(DecodeYolov5, MultipliesObjectnessAndClassScore) {
  // [A, 5+2]: cx, cy, w, h, objectness, class0, class1
  const std::vector<float> out = {10, 10, 4, 4, 0.9F, 1.0F, 0.0F,
                                  20, 20, 4, 4, 0.5F, 0.2F, 0.8F,
                                  30, 30, 4, 4, 0.3F, 0.5F, 0.5F};
  const auto boxes = vision::decode_yolov5(out.data(), 3, 7, {0.25F, 100});
  ASSERT_EQ(boxes.size(), 2U);
  EXPECT_FLOAT_EQ(boxes[0].score, 0.9F);
  EXPECT_EQ(boxes[1].class_id, 1);
  EXPECT_FLOAT_EQ(boxes[1].score, 0.4F);  // 0.5 × 0.8; the third is 0.15 < 0.25
}

TEST(DecodeBoxesLabelsScores, DropsBackgroundAndShiftsLabels) {
  const std::vector<float> boxes = {10, 10, 50, 50,  0, 0, 5, 5,  1, 1, 2, 2};
  const std::vector<std::int64_t> labels = {2, 0, 1};
  const std::vector<float> scores = {0.8F, 0.9F, 0.1F};
  const auto out = vision::decode_boxes_labels_scores(boxes.data(), labels.data(), scores.data(), 3, {0.25F, 100});
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].class_id, 1);
  EXPECT_EQ(out[0].xyxy, (std::array<float, 4>{10, 10, 50, 50}));
}

TEST(Decode, MaxCandidatesKeepsTheBestScores) {
  // 5 anchors, one class, scores 0.3..0.7
  std::vector<float> out;
  for (int row = 0; row < 4; ++row) out.insert(out.end(), {10, 20, 30, 40, 50});
  out.insert(out.end(), {0.3F, 0.7F, 0.5F, 0.6F, 0.4F});
  const auto boxes = vision::decode_yolov8(out.data(), 5, 5, {0.0F, 2});
  ASSERT_EQ(boxes.size(), 2U);
  std::vector<float> scores = {boxes[0].score, boxes[1].score};
  std::ranges::sort(scores);
  EXPECT_EQ(scores, (std::vector<float>{0.6F, 0.7F}));
}
