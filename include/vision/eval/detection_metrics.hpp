// Detection metrics as Ultralytics computes them, so figures compare with its validator:
// predictions are matched to ground truth of the same class at IoU thresholds 0.50:0.05:0.95
// (greedy by IoU), AP is the area under the monotone precision envelope sampled at 101 recall
// points, mAP averages the classes that have ground truth, and P / R are read at the confidence
// that maximises the mean F1. A confusion matrix (last row/column = background) is kept at
// confidence 0.25 and IoU 0.45.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vision/core/contracts.hpp"

namespace vision {

struct GroundTruthBox {
  int class_id = 0;
  std::array<float, 4> xyxy{};  // pixels
};

struct ClassMetrics {
  std::string name;
  std::int64_t instances = 0;  // ground-truth boxes
  std::int64_t images = 0;     // images with at least one
  double precision = 0, recall = 0, ap50 = 0, ap50_95 = 0;
};

// Recall points of a PR curve, as Ultralytics' linspace(0, 1, 1000).
inline constexpr int k_pr_curve_points = 1000;

struct DetectionMetrics {
  double precision = 0, recall = 0, map50 = 0, map50_95 = 0;
  double fitness = 0;  // 0.1·mAP50 + 0.9·mAP50-95, how best.pt is chosen
  std::int64_t images = 0;
  std::int64_t instances = 0;
  std::vector<ClassMetrics> per_class;
  std::vector<std::vector<std::int64_t>> confusion;  // [predicted][true], (nc+1)²
  // Per class, the precision envelope at IoU 0.5 sampled at k_pr_curve_points recalls evenly
  // spaced over [0, 1] (Ultralytics' px/py of the PR plot); empty for classes without truth.
  std::vector<std::vector<double>> pr_curve;
};

// Area under the precision envelope at 101 recall points (recall ascending, precision for the
// same points); what Ultralytics' compute_ap(method="interp") returns. No points: 0.
double average_precision(const std::vector<double>& recall, const std::vector<double>& precision);
// The same envelope sampled at k_pr_curve_points recalls 0, 1/999, …, 1; all zeros without points.
std::vector<double> pr_curve_points(const std::vector<double>& recall, const std::vector<double>& precision);

class DetectionEvaluator {
 public:
  explicit DetectionEvaluator(std::vector<std::string> class_names);
  // One image: its ground truth and the model's detections (after NMS).
  void add(const std::vector<GroundTruthBox>& truth, const std::vector<Detection>& predictions);
  DetectionMetrics compute() const;

 private:
  struct Scored {
    float score;
    int class_id;
    std::array<bool, 10> true_positive;
  };
  struct RankedCurves;      // one class's cumulative recall and precision, highest score first
  struct ConfidenceCurves;  // one class's P and R at IoU 0.5 over a grid of confidences

  // The steps of compute(), in order.
  std::vector<std::size_t> order_by_score() const;
  RankedCurves ranked_curves(std::size_t class_id, const std::vector<std::size_t>& order,
                             std::int64_t instances) const;
  static void read_average_precision(const RankedCurves& ranked, ClassMetrics& metrics,
                                     std::vector<double>& pr_curve);
  static ConfidenceCurves confidence_curves(const RankedCurves& ranked);
  static std::size_t best_f1_index(const std::vector<ConfidenceCurves>& curves);

  std::vector<std::string> m_names;
  std::vector<Scored> m_predictions;
  std::vector<std::int64_t> m_instances;
  std::vector<std::int64_t> m_images_with_class;
  std::vector<std::vector<std::int64_t>> m_confusion;
  std::int64_t m_images = 0;
};

nlohmann::json to_json(const DetectionMetrics& metrics);

}  // namespace vision
