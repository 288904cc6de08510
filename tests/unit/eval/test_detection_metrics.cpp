// Metrics against values worked out by hand (see the comments for the arithmetic).
#include <algorithm>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "vision/eval/detection_metrics.hpp"

using vision::Detection;
using vision::DetectionEvaluator;
using vision::GroundTruthBox;

namespace {
Detection det(int cls, float score, std::array<float, 4> box) { return {cls, "c" + std::to_string(cls), score, box}; }
}  // namespace

TEST(AveragePrecision, PerfectDetectorScoresPoint995) {
  // Envelope is 1 up to recall 1, where it drops to 0: 100 full steps minus half of the last.
  EXPECT_NEAR(vision::average_precision({1.0}, {1.0}), 0.995, 1e-9);
}

TEST(AveragePrecision, HandComputedCurve) {
  // recall .5 .5 1, precision 1 .5 2/3 → envelope 1 on [0,.5), 2/3 on [.5,1), 0 at 1:
  // .49 + (1 + 2/3)/200 + 49·(2/3)/100 + (2/3)/200 = 0.828333…
  EXPECT_NEAR(vision::average_precision({0.5, 0.5, 1.0}, {1.0, 0.5, 2.0 / 3.0}), 0.8283333333, 1e-9);
  EXPECT_NEAR(vision::average_precision({}, {}), 0.0, 1e-12);
}

TEST(DetectionEvaluator, PerfectPredictions) {
  DetectionEvaluator evaluator({"a", "b"});
  evaluator.add({{0, {0, 0, 10, 10}}, {1, {20, 20, 40, 40}}}, {det(0, 0.9F, {0, 0, 10, 10}), det(1, 0.8F, {20, 20, 40, 40})});
  const auto m = evaluator.compute();
  EXPECT_NEAR(m.map50, 0.995, 1e-9);
  EXPECT_NEAR(m.map50_95, 0.995, 1e-9);
  EXPECT_NEAR(m.precision, 1.0, 1e-9);
  EXPECT_NEAR(m.recall, 1.0, 1e-9);
  EXPECT_EQ(m.instances, 2);
  EXPECT_NEAR(m.fitness, 0.995, 1e-9);
}

TEST(DetectionEvaluator, HandComputedPrCurveAtIou50) {
  // Two truths; predictions by score: TP, FP (duplicate of the first truth), TP.
  DetectionEvaluator evaluator({"a"});
  evaluator.add({{0, {0, 0, 10, 10}}, {0, {100, 100, 110, 110}}},
                {det(0, 0.9F, {0, 0, 10, 10}), det(0, 0.8F, {0, 0, 10, 10}), det(0, 0.7F, {100, 100, 110, 110})});
  const auto m = evaluator.compute();
  EXPECT_NEAR(m.per_class[0].ap50, 0.8283333333, 1e-6);
  EXPECT_NEAR(m.map50_95, 0.8283333333, 1e-6);  // exact boxes: every threshold alike
}

TEST(DetectionEvaluator, PrCurveIsThePrecisionEnvelopeAtIou50) {
  // Same case: recall .5 .5 1, precision 1 .5 2/3 → envelope 1 up to recall .5, 2/3 beyond,
  // 0 at recall 1. Points are i/999: 499 → .4995 (1), 500 → .5005 (2/3), 999 → 1 (0).
  DetectionEvaluator evaluator({"a", "b", "c"});
  evaluator.add({{0, {0, 0, 10, 10}}, {0, {100, 100, 110, 110}}, {1, {50, 50, 60, 60}}},
                {det(0, 0.9F, {0, 0, 10, 10}), det(0, 0.8F, {0, 0, 10, 10}), det(0, 0.7F, {100, 100, 110, 110}),
                 det(2, 0.9F, {200, 200, 210, 210})});
  const auto m = evaluator.compute();
  ASSERT_EQ(m.pr_curve.size(), 3U);
  const auto& a = m.pr_curve[0];
  ASSERT_EQ(a.size(), static_cast<size_t>(vision::k_pr_curve_points));
  EXPECT_NEAR(a[0], 1.0, 1e-12);
  EXPECT_NEAR(a[250], 1.0, 1e-12);
  EXPECT_NEAR(a[499], 1.0, 1e-12);
  EXPECT_NEAR(a[500], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(a[998], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(a[999], 0.0, 1e-12);
  // b has truth but no predictions: nothing found at any recall. c has no truth: no curve.
  ASSERT_EQ(m.pr_curve[1].size(), static_cast<size_t>(vision::k_pr_curve_points));
  EXPECT_EQ(*std::max_element(m.pr_curve[1].begin(), m.pr_curve[1].end()), 0.0);
  EXPECT_TRUE(m.pr_curve[2].empty());
  EXPECT_FALSE(to_json(m).contains("pr_curve"));
}

TEST(PrCurvePoints, InterpolatesLinearlyBetweenEnvelopePoints) {
  // recall .25 .75, precision 1 .5 → envelope (0,1) (.25,1) (.75,.5) (1,0), linear between.
  const auto curve = vision::pr_curve_points({0.25, 0.75}, {1.0, 0.5});
  const auto recall = [](size_t i) { return static_cast<double>(i) / (vision::k_pr_curve_points - 1); };
  EXPECT_NEAR(curve[100], 1.0, 1e-12);                            // recall .1
  EXPECT_NEAR(curve[500], 1.0 - (recall(500) - 0.25), 1e-12);     // recall .5005 → .7495
  EXPECT_NEAR(curve[900], 0.5 - 2 * (recall(900) - 0.75), 1e-12);  // recall .9009 → .1982
  EXPECT_NEAR(curve[999], 0.0, 1e-12);
  EXPECT_EQ(vision::pr_curve_points({}, {}), std::vector<double>(vision::k_pr_curve_points, 0.0));
}

TEST(DetectionEvaluator, IouThresholdsDecideMap50To95) {
  // IoU = 72/100 = 0.72: a true positive at 0.50 … 0.70 (5 of 10 thresholds).
  DetectionEvaluator evaluator({"a"});
  evaluator.add({{0, {0, 0, 10, 10}}}, {det(0, 0.9F, {0, 0, 10, 7.2F})});
  const auto m = evaluator.compute();
  EXPECT_NEAR(m.map50, 0.995, 1e-6);
  EXPECT_NEAR(m.map50_95, 0.4975, 1e-6);
}

TEST(DetectionEvaluator, ClassWithoutPredictionsCountsAsZeroAndClassWithoutTruthIsLeftOut) {
  DetectionEvaluator evaluator({"a", "b", "c"});
  // a: found perfectly; b: has truth, no predictions; c: predictions only.
  evaluator.add({{0, {0, 0, 10, 10}}, {1, {50, 50, 60, 60}}}, {det(0, 0.9F, {0, 0, 10, 10}), det(2, 0.9F, {80, 80, 90, 90})});
  const auto m = evaluator.compute();
  EXPECT_NEAR(m.per_class[0].ap50, 0.995, 1e-9);
  EXPECT_NEAR(m.per_class[1].ap50, 0.0, 1e-12);
  EXPECT_EQ(m.per_class[2].instances, 0);
  EXPECT_NEAR(m.map50, 0.995 / 2, 1e-9);  // mean over a and b only
  EXPECT_NEAR(m.recall, 0.5, 1e-9);
}

TEST(DetectionEvaluator, NoPredictionsAtAll) {
  DetectionEvaluator evaluator({"a"});
  evaluator.add({{0, {0, 0, 10, 10}}}, {});
  evaluator.add({}, {});
  const auto m = evaluator.compute();
  EXPECT_EQ(m.images, 2);
  EXPECT_EQ(m.map50, 0.0);
  EXPECT_EQ(m.precision, 0.0);
}

TEST(DetectionEvaluator, MatchingIsGreedyByIouAndOneToOne) {
  // One truth, two overlapping predictions: the higher-IoU one matches even with a lower score.
  DetectionEvaluator evaluator({"a"});
  evaluator.add({{0, {0, 0, 10, 10}}}, {det(0, 0.9F, {0, 0, 10, 6}), det(0, 0.5F, {0, 0, 10, 10})});
  const auto m = evaluator.compute();
  // By score: 0.9 (FP at IoU 0.5? IoU 0.6 but the 0.5-score box has IoU 1 and wins), 0.5 TP.
  // recall 0, 1; precision 0, 1/2 → envelope 1/2 until recall 1: 0.995 · 1/2 … exactly
  // 100 steps of 0.5 minus half of the last = 0.4975.
  EXPECT_NEAR(m.per_class[0].ap50, 0.4975, 1e-6);
}

TEST(DetectionEvaluator, ConfusionMatrixCountsMixUpsMissesAndGhosts) {
  DetectionEvaluator evaluator({"a", "b"});
  evaluator.add({{0, {0, 0, 10, 10}}, {1, {50, 50, 60, 60}}},
                {det(1, 0.9F, {0, 0, 10, 10}),        // a predicted as b
                 det(0, 0.9F, {200, 200, 210, 210}),  // ghost a
                 det(0, 0.1F, {300, 300, 310, 310})});  // below 0.25: ignored
  const auto m = evaluator.compute();
  EXPECT_EQ(m.confusion[1][0], 1);  // predicted b, true a
  EXPECT_EQ(m.confusion[2][1], 1);  // b missed
  EXPECT_EQ(m.confusion[0][2], 1);  // a predicted on background
  EXPECT_EQ(to_json(m)["confusion_matrix"].size(), 3U);
}
