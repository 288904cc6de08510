// Metrics against values worked out by hand (see the comments for the arithmetic).
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
