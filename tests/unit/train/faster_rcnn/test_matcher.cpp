// The IoU matcher (thresholds, low-quality matches with ties) and the balanced positive /
// negative sampler (counts, ratios, reproducibility) of the Faster R-CNN heads.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <vector>

#include "faster_rcnn/box_ops.hpp"

namespace frcnn = vision::train::faster_rcnn;

namespace {

torch::Tensor matches(std::vector<int64_t> values) {
  return torch::tensor(values, torch::kLong);
}

int64_t count(const torch::Tensor& mask) {
  return mask.sum().item<int64_t>();
}

// IoU of 2 gt boxes (rows) with 5 predictions (columns).
torch::Tensor iou() {
  return torch::tensor({{0.90, 0.50, 0.10, 0.20, 0.30}, {0.30, 0.60, 0.05, 0.60, 0.69}});
}

}  // namespace

TEST(Matcher, SplitsByThresholds) {
  // RPN thresholds 0.7 / 0.3: ≥ 0.7 matched, < 0.3 background, between ignored.
  const frcnn::Matcher matcher(0.7, 0.3, false);
  EXPECT_TRUE(torch::equal(matcher(iou()), matches({0, -2, -1, -2, -2})));
}

TEST(Matcher, LowQualityMatchesIncludeTies) {
  // gt 1's best IoU is 0.69 (prediction 4); gt 0's is 0.9 (prediction 0). Predictions 1 and 3
  // tie at 0.6 for nothing: they stay ignored. Only the best of each gt comes back.
  const frcnn::Matcher matcher(0.7, 0.3, true);
  EXPECT_TRUE(torch::equal(matcher(iou()), matches({0, -2, -1, -2, 1})));
  // Now gt 1's best (0.6) is shared by predictions 1 and 3: both get gt 1 back.
  const auto tied = torch::tensor({{0.90, 0.50, 0.10, 0.20}, {0.30, 0.60, 0.05, 0.60}});
  EXPECT_TRUE(torch::equal(matcher(tied), matches({0, 1, -1, 1})));
}

TEST(Matcher, RoiThresholdsLeaveNothingBetween) {
  // RoI heads: 0.5 / 0.5, so IoU 0.5 is positive and anything below is background.
  const frcnn::Matcher matcher(0.5, 0.5, false);
  EXPECT_TRUE(torch::equal(matcher(iou()), matches({0, 1, -1, 1, 1})));
}

TEST(Matcher, RejectsEmptyMatrices) {
  const frcnn::Matcher matcher(0.7, 0.3, true);
  EXPECT_THROW(matcher(torch::zeros({0, 4})), c10::Error);
  EXPECT_THROW(matcher(torch::zeros({2, 0})), c10::Error);
  EXPECT_THROW(frcnn::Matcher(0.3, 0.7, false), c10::Error);
}

TEST(SampleBalanced, RatiosAndShortfalls) {
  struct Case {
    int64_t positives, negatives, ignored, batch;
    double fraction;
    int64_t expect_pos, expect_neg;
  };
  const std::vector<Case> cases = {
      {500, 500, 10, 256, 0.5, 128, 128},  // RPN: half positive
      {500, 900, 0, 512, 0.25, 128, 384},  // RoI heads: a quarter positive
      {10, 1000, 5, 256, 0.5, 10, 246},    // few positives: negatives fill the batch
      {300, 20, 0, 256, 0.5, 128, 20},     // few negatives: the batch stays short
  };
  torch::manual_seed(5);
  for (const auto& c : cases) {
    const auto labels = torch::cat({torch::randint(1, 4, {c.positives}),
                                    torch::zeros({c.negatives}), torch::full({c.ignored}, -1.0)})
                            .to(torch::kLong);
    const auto shuffled = labels.index_select(0, torch::randperm(labels.size(0), torch::kLong));
    const auto [pos, neg] = frcnn::sample_balanced(shuffled, c.batch, c.fraction);
    EXPECT_EQ(count(pos), c.expect_pos);
    EXPECT_EQ(count(neg), c.expect_neg);
    EXPECT_TRUE((shuffled.masked_select(pos) >= 1).all().item<bool>());
    EXPECT_TRUE((shuffled.masked_select(neg) == 0).all().item<bool>());
  }
}

TEST(SampleBalanced, ReproducibleThroughTorchSeed) {
  const auto labels = torch::cat({torch::ones({400}), torch::zeros({600})});
  torch::manual_seed(21);
  const auto first = frcnn::sample_balanced(labels, 256, 0.5);
  torch::manual_seed(21);
  const auto again = frcnn::sample_balanced(labels, 256, 0.5);
  EXPECT_TRUE(torch::equal(first.first, again.first));
  EXPECT_TRUE(torch::equal(first.second, again.second));
  torch::manual_seed(22);
  EXPECT_FALSE(torch::equal(first.first, frcnn::sample_balanced(labels, 256, 0.5).first));
}
