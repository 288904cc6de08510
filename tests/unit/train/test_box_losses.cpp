// The box loss terms against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "box_losses.hpp"

using vision::train::ciou;

TEST(Ciou, IdenticalBoxesScoreOne) {
  const auto box = torch::tensor({{10.0, 20.0, 50.0, 80.0}});
  EXPECT_NEAR(ciou(box, box).item<double>(), 1.0, 1e-6);
}

TEST(Ciou, ShiftedSquareHandComputed) {
  // [0,0,2,2] vs [1,0,3,2]: IoU 2/6; enclosing box 3×2 → c² = 13; centres 1 apart → ρ² = 1;
  // same aspect → v = 0. CIoU = 1/3 − 1/13.
  const auto a = torch::tensor({{0.0, 0.0, 2.0, 2.0}}, torch::kDouble);
  const auto b = torch::tensor({{1.0, 0.0, 3.0, 2.0}}, torch::kDouble);
  EXPECT_NEAR(ciou(a, b).item<double>(), 1.0 / 3.0 - 1.0 / 13.0, 1e-6);
}

TEST(Ciou, AspectTermPenalisesDifferentShapes) {
  // [0,0,2,2] vs [0,0,4,1]: inter 2, union 4 + 4 − 2 = 6 → IoU 1/3; enclosing 4×2 → c² = 20;
  // centres (1,1) and (2,0.5) → ρ² = 1.25; v = 4/π²·(atan 4 − atan 1)²; α = v / (v − IoU + 1).
  const auto a = torch::tensor({{0.0, 0.0, 2.0, 2.0}}, torch::kDouble);
  const auto b = torch::tensor({{0.0, 0.0, 4.0, 1.0}}, torch::kDouble);
  const double iou = 1.0 / 3.0;
  const double v = 4 / (std::numbers::pi * std::numbers::pi) * std::pow(std::atan(4.0) - std::atan(1.0), 2);
  const double alpha = v / (v - iou + 1);
  EXPECT_NEAR(ciou(a, b).item<double>(), iou - (1.25 / 20 + v * alpha), 1e-6);
}

TEST(Ciou, DisjointBoxesGoNegative) {
  const auto a = torch::tensor({{0.0, 0.0, 1.0, 1.0}});
  const auto b = torch::tensor({{3.0, 0.0, 4.0, 1.0}});
  // IoU 0; c² = 16 + 1 = 17, ρ² = 9 → −9/17.
  EXPECT_NEAR(ciou(a, b).item<double>(), -9.0 / 17.0, 1e-5);
}

TEST(BoxDistances, RoundTripAndClamp) {
  const auto anchors = torch::tensor({{5.5, 5.5}});
  const auto box = torch::tensor({{3.0, 4.0, 9.0, 6.5}});
  const auto d = vision::train::box_to_distances(anchors, box, 16);
  EXPECT_TRUE(torch::allclose(d, torch::tensor({{2.5, 1.5, 3.5, 1.0}})));
  EXPECT_TRUE(torch::allclose(vision::train::distances_to_box(anchors, d), box));
  const auto far = vision::train::box_to_distances(anchors, torch::tensor({{-40.0, 5.0, 6.0, 6.0}}), 16);
  EXPECT_NEAR(far[0][0].item<double>(), 14.99, 1e-5);  // clamped to reg_max − 1 − 0.01
}

TEST(DistributionFocalLoss, HandComputedCases) {
  // Uniform logits: cross-entropy ln 16 towards any bin, whatever the weights.
  auto uniform = torch::zeros({1, 4, 16});
  auto loss = vision::train::distribution_focal_loss(uniform, torch::full({1, 4}, 7.3));
  EXPECT_NEAR(loss.item<double>(), std::log(16.0), 1e-5);
  // All mass split between bins 2 and 3: each cross-entropy is ln 2, weights sum to 1.
  auto split = torch::full({1, 4, 16}, -1e4);
  split.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), 2}, 0.0);
  split.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), 3}, 0.0);
  loss = vision::train::distribution_focal_loss(split, torch::full({1, 4}, 2.25));
  EXPECT_NEAR(loss.item<double>(), std::log(2.0), 1e-5);
  // A sharp peak on the exact integer target costs nothing.
  auto peak = torch::full({2, 4, 16}, -1e4);
  peak.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), 5}, 0.0);
  loss = vision::train::distribution_focal_loss(peak, torch::full({2, 4}, 5.0));
  EXPECT_EQ(loss.sizes(), (std::vector<std::int64_t>{2, 1}));
  EXPECT_NEAR(loss.sum().item<double>(), 0.0, 1e-5);
}

TEST(DistributionFocalLoss, GradientPullsTowardsTheTarget) {
  auto logits = torch::zeros({1, 4, 16}, torch::requires_grad());
  vision::train::distribution_focal_loss(logits, torch::full({1, 4}, 4.0)).sum().backward();
  const auto grad = logits.grad()[0][0];
  EXPECT_LT(grad[4].item<double>(), 0.0);  // raise the target bin
  EXPECT_GT(grad[9].item<double>(), 0.0);  // lower the others
}
