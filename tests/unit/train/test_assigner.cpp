// The task-aligned assigner on hand-made scenes.
#include <gtest/gtest.h>

#include <cmath>

#include "assigner.hpp"

using vision::train::AssignerOptions;
using vision::train::assign;

namespace {

// Four anchors: three inside the box [0,0,16,16], one outside it at (20, 4).
const auto k_anchors = torch::tensor({{4.0F, 4.0F}, {12.0F, 4.0F}, {20.0F, 4.0F}, {4.0F, 12.0F}});

}  // namespace

TEST(Assigner, TopKInsideTheBoxByAlignmentWithSoftTargets) {
  const auto gt_boxes = torch::tensor({{{0.0F, 0.0F, 16.0F, 16.0F}}});
  const auto gt_labels = torch::tensor({{{0.0F}}});
  const auto gt_mask = torch::ones({1, 1, 1});
  const auto pred_boxes = gt_boxes.expand({1, 4, 4}).clone();  // every prediction is exact: IoU 1
  // Class-0 scores .9, .5, .99 (outside the box) and .1; class 1 is irrelevant.
  const auto pred_scores = torch::tensor({{{0.9F, 0.2F}, {0.5F, 0.2F}, {0.99F, 0.2F}, {0.1F, 0.2F}}});
  const auto a = assign({2, 2, 0.5, 6.0, 1e-9}, pred_scores, pred_boxes, k_anchors, gt_labels, gt_boxes, gt_mask);
  EXPECT_EQ(a.foreground[0][0].item<bool>(), true);
  EXPECT_EQ(a.foreground[0][1].item<bool>(), true);
  EXPECT_EQ(a.foreground[0][2].item<bool>(), false);  // best score, but outside the box
  EXPECT_EQ(a.foreground[0][3].item<bool>(), false);  // inside, but not in the top 2
  // align = √score · 1⁶; normalised by the best (√.9) and scaled to the best IoU (1).
  EXPECT_NEAR(a.target_scores[0][0][0].item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(a.target_scores[0][1][0].item<double>(), std::sqrt(0.5) / std::sqrt(0.9), 1e-5);
  EXPECT_NEAR(a.target_scores[0][1][1].item<double>(), 0.0, 1e-9);
  EXPECT_NEAR(a.target_scores[0][2].sum().item<double>(), 0.0, 1e-9);
  EXPECT_TRUE(torch::allclose(a.target_boxes[0][0], gt_boxes[0][0]));
}

TEST(Assigner, AnAnchorClaimedTwiceKeepsTheBoxItOverlapsMost) {
  // Box A [0,0,16,16] (class 0) and box B [8,0,24,16] (class 1) both contain the anchor at
  // (12, 4); its prediction is exactly B, so IoU(B) = 1 beats IoU(A) = 1/3.
  const auto gt_boxes = torch::tensor({{{0.0F, 0.0F, 16.0F, 16.0F}, {8.0F, 0.0F, 24.0F, 16.0F}}});
  const auto gt_labels = torch::tensor({{{0.0F}, {1.0F}}});
  const auto gt_mask = torch::ones({1, 2, 1});
  auto pred_boxes = torch::zeros({1, 4, 4});
  pred_boxes[0][1] = torch::tensor({8.0F, 0.0F, 24.0F, 16.0F});
  const auto pred_scores = torch::full({1, 4, 2}, 0.5F);
  const auto a = assign({10, 2, 0.5, 6.0, 1e-9}, pred_scores, pred_boxes, k_anchors, gt_labels, gt_boxes, gt_mask);
  ASSERT_TRUE(a.foreground[0][1].item<bool>());
  EXPECT_EQ(a.target_gt[0][1].item<std::int64_t>(), 1);
  EXPECT_EQ(a.target_labels[0][1].item<std::int64_t>(), 1);
  EXPECT_GT(a.target_scores[0][1][1].item<double>(), 0.0);
  EXPECT_NEAR(a.target_scores[0][1][0].item<double>(), 0.0, 1e-9);
}

TEST(Assigner, PaddingRowsAndEmptyImagesAssignNothing) {
  // The second image has only a padding row (mask 0).
  const auto gt_boxes = torch::tensor({{{0.0F, 0.0F, 16.0F, 16.0F}}, {{0.0F, 0.0F, 16.0F, 16.0F}}});
  const auto gt_labels = torch::zeros({2, 1, 1});
  const auto gt_mask = torch::tensor({{{1.0F}}, {{0.0F}}});
  const auto pred_boxes = gt_boxes.expand({2, 4, 4}).clone();
  const auto pred_scores = torch::full({2, 4, 2}, 0.5F);
  const auto a = assign({10, 2, 0.5, 6.0, 1e-9}, pred_scores, pred_boxes, k_anchors, gt_labels, gt_boxes, gt_mask);
  EXPECT_EQ(a.foreground[0].sum().item<std::int64_t>(), 3);  // the three anchors inside
  EXPECT_EQ(a.foreground[1].sum().item<std::int64_t>(), 0);
  EXPECT_NEAR(a.target_scores[1].sum().item<double>(), 0.0, 1e-9);

  const auto none = assign({10, 2, 0.5, 6.0, 1e-9}, pred_scores, pred_boxes, k_anchors, torch::zeros({2, 0, 1}),
                           torch::zeros({2, 0, 4}), torch::zeros({2, 0, 1}));
  EXPECT_EQ(none.foreground.sum().item<std::int64_t>(), 0);
  EXPECT_EQ(none.target_scores.sizes(), (std::vector<std::int64_t>{2, 4, 2}));
}
