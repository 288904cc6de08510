// The detection metrics: matching per image as predictions arrive, then per class the ranked
// curves, AP over the IoU thresholds, and P / R at the confidence of the best mean F1.
#include "vision/eval/detection_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "vision/image/nms.hpp"

namespace vision {

namespace {

constexpr std::size_t k_thresholds = 10;           // IoU 0.50, 0.55, …, 0.95
constexpr std::size_t k_confidence_points = 1000;  // the grid of the P, R and F1 curves
constexpr float k_confusion_conf = 0.25F;
constexpr float k_confusion_iou = 0.45F;

float iou_threshold(std::size_t t) { return 0.5F + 0.05F * static_cast<float>(t); }

// Linear interpolation of y(x) at `at`, x ascending, clamped at the ends (numpy.interp).
double interp(double at, const std::vector<double>& x, const std::vector<double>& y) {
  if (x.empty()) return 0;
  if (at < x.front()) return y.front();
  if (at >= x.back()) return y.back();
  const auto upper = std::upper_bound(x.begin(), x.end(), at);
  const size_t i = static_cast<size_t>(upper - x.begin());
  const double x0 = x[i - 1], x1 = x[i];
  if (x1 == x0) return y[i];
  return y[i - 1] + (y[i] - y[i - 1]) * (at - x0) / (x1 - x0);
}

struct Pair {
  size_t truth, prediction;
};

// Greedy one-to-one matching as Ultralytics' match_predictions: the candidate pairs that
// `eligible` accepts, highest IoU first, each truth and each prediction used once.
template <class Eligible>
std::vector<Pair> greedy_pairs(const std::vector<std::vector<float>>& iou, size_t predictions, Eligible eligible) {
  std::vector<std::pair<float, Pair>> candidates;
  for (size_t g = 0; g < iou.size(); ++g) {
    for (size_t p = 0; p < predictions; ++p) {
      if (eligible(g, p)) candidates.push_back({iou[g][p], {g, p}});
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<bool> truth_used(iou.size()), prediction_used(predictions);
  std::vector<Pair> pairs;
  for (const auto& [value, pair] : candidates) {
    if (truth_used[pair.truth] || prediction_used[pair.prediction]) continue;
    truth_used[pair.truth] = prediction_used[pair.prediction] = true;
    pairs.push_back(pair);
  }
  return pairs;
}

// Ultralytics' smooth(): a box filter over a fraction of the points.
std::vector<double> smooth(const std::vector<double>& y, double fraction) {
  const int nf = static_cast<int>(std::lround(static_cast<double>(y.size()) * fraction * 2)) / 2 + 1;
  const int half = nf / 2;
  std::vector<double> padded;
  padded.insert(padded.end(), static_cast<size_t>(half), y.front());
  padded.insert(padded.end(), y.begin(), y.end());
  padded.insert(padded.end(), static_cast<size_t>(half), y.back());
  std::vector<double> out(y.size());
  double window = std::accumulate(padded.begin(), padded.begin() + nf, 0.0);
  for (size_t i = 0; i < y.size(); ++i) {
    out[i] = window / nf;
    if (i + static_cast<size_t>(nf) < padded.size()) window += padded[i + static_cast<size_t>(nf)] - padded[i];
  }
  return out;
}

// The monotone precision envelope over recall, with the sentinels (0, 1) and (1, 0) that
// Ultralytics' compute_ap adds; both AP and the PR curve are read from it.
struct Envelope {
  std::vector<double> recall, precision;
};

Envelope precision_envelope(const std::vector<double>& recall, const std::vector<double>& precision) {
  Envelope e;
  e.recall = {0.0};
  e.recall.insert(e.recall.end(), recall.begin(), recall.end());
  e.recall.push_back(1.0);
  e.precision = {1.0};
  e.precision.insert(e.precision.end(), precision.begin(), precision.end());
  e.precision.push_back(0.0);
  for (size_t i = e.precision.size() - 1; i > 0; --i) e.precision[i - 1] = std::max(e.precision[i - 1], e.precision[i]);
  return e;
}

}  // namespace

double average_precision(const std::vector<double>& recall, const std::vector<double>& precision) {
  if (recall.empty()) return 0.0;  // no predictions: nothing found
  const Envelope e = precision_envelope(recall, precision);
  // Trapezoids over 101 evenly spaced recall points of the envelope.
  double area = 0;
  double previous = interp(0.0, e.recall, e.precision);
  for (int i = 1; i <= 100; ++i) {
    const double value = interp(i / 100.0, e.recall, e.precision);
    area += (previous + value) / 2 * 0.01;
    previous = value;
  }
  return area;
}

std::vector<double> pr_curve_points(const std::vector<double>& recall, const std::vector<double>& precision) {
  // No predictions: nothing is found at any recall, as AP 0 says (Ultralytics leaves the class out).
  std::vector<double> curve(k_pr_curve_points, 0.0);
  if (recall.empty()) return curve;
  const Envelope e = precision_envelope(recall, precision);
  for (int i = 0; i < k_pr_curve_points; ++i) {
    curve[static_cast<size_t>(i)] = interp(static_cast<double>(i) / (k_pr_curve_points - 1), e.recall, e.precision);
  }
  return curve;
}

DetectionEvaluator::DetectionEvaluator(std::vector<std::string> class_names)
    : m_names(std::move(class_names)),
      m_instances(m_names.size(), 0),
      m_images_with_class(m_names.size(), 0),
      m_confusion(m_names.size() + 1, std::vector<std::int64_t>(m_names.size() + 1, 0)) {}

void DetectionEvaluator::add(const std::vector<GroundTruthBox>& truth, const std::vector<Detection>& predictions) {
  ++m_images;
  const size_t nc = m_names.size();
  std::vector<bool> present(nc, false);
  for (const auto& g : truth) {
    if (g.class_id < 0 || static_cast<size_t>(g.class_id) >= nc) continue;
    ++m_instances[static_cast<size_t>(g.class_id)];
    present[static_cast<size_t>(g.class_id)] = true;
  }
  for (size_t c = 0; c < nc; ++c) m_images_with_class[c] += present[c] ? 1 : 0;

  std::vector<std::vector<float>> iou(truth.size(), std::vector<float>(predictions.size()));
  for (size_t g = 0; g < truth.size(); ++g) {
    for (size_t p = 0; p < predictions.size(); ++p) iou[g][p] = box_iou(truth[g].xyxy, predictions[p].bbox_xyxy);
  }
  std::vector<std::array<bool, 10>> tp(predictions.size(), std::array<bool, 10>{});
  for (std::size_t t = 0; t < k_thresholds; ++t) {
    const auto pairs = greedy_pairs(iou, predictions.size(), [&](size_t g, size_t p) {
      return truth[g].class_id == predictions[p].class_id && iou[g][p] >= iou_threshold(t);
    });
    for (const auto& pair : pairs) tp[pair.prediction][t] = true;
  }
  for (size_t p = 0; p < predictions.size(); ++p) m_predictions.push_back({predictions[p].score, predictions[p].class_id, tp[p]});

  // Confusion matrix: confident predictions matched to truth of any class by IoU.
  const auto pairs = greedy_pairs(iou, predictions.size(), [&](size_t g, size_t p) {
    return predictions[p].score >= k_confusion_conf && iou[g][p] > k_confusion_iou;
  });
  std::vector<bool> truth_used(truth.size()), prediction_used(predictions.size());
  const auto bucket = [nc](int id) { return id >= 0 && static_cast<size_t>(id) < nc ? static_cast<size_t>(id) : nc; };
  for (const auto& pair : pairs) {
    truth_used[pair.truth] = prediction_used[pair.prediction] = true;
    ++m_confusion[bucket(predictions[pair.prediction].class_id)][bucket(truth[pair.truth].class_id)];
  }
  for (size_t g = 0; g < truth.size(); ++g) {
    if (!truth_used[g]) ++m_confusion[nc][bucket(truth[g].class_id)];  // missed: background predicted
  }
  for (size_t p = 0; p < predictions.size(); ++p) {
    if (!prediction_used[p] && predictions[p].score >= k_confusion_conf) ++m_confusion[bucket(predictions[p].class_id)][nc];
  }
}

struct DetectionEvaluator::RankedCurves {
  std::vector<double> scores;
  std::vector<std::array<double, k_thresholds>> recall, precision;
};

struct DetectionEvaluator::ConfidenceCurves {
  std::vector<double> precision, recall;  // k_confidence_points each
};

std::vector<std::size_t> DetectionEvaluator::order_by_score() const {
  std::vector<std::size_t> order(m_predictions.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return m_predictions[a].score > m_predictions[b].score;
  });
  return order;
}

// Ultralytics' running tp / fp counts over the class's predictions at every IoU threshold.
DetectionEvaluator::RankedCurves DetectionEvaluator::ranked_curves(std::size_t class_id,
                                                                   const std::vector<std::size_t>& order,
                                                                   std::int64_t instances) const {
  RankedCurves ranked;
  std::array<double, k_thresholds> tpc{}, fpc{};
  for (std::size_t index : order) {
    const auto& p = m_predictions[index];
    if (p.class_id != static_cast<int>(class_id)) continue;
    ranked.scores.push_back(p.score);
    std::array<double, k_thresholds> r{}, pr{};
    for (std::size_t t = 0; t < k_thresholds; ++t) {
      (p.true_positive[t] ? tpc : fpc)[t] += 1;
      r[t] = tpc[t] / (static_cast<double>(instances) + 1e-16);
      pr[t] = tpc[t] / (tpc[t] + fpc[t]);
    }
    ranked.recall.push_back(r);
    ranked.precision.push_back(pr);
  }
  return ranked;
}

// AP at each IoU threshold: AP50, the mean over 0.50:0.95, and the PR curve at IoU 0.5.
void DetectionEvaluator::read_average_precision(const RankedCurves& ranked, ClassMetrics& metrics,
                                                std::vector<double>& pr_curve) {
  double ap_sum = 0;
  for (std::size_t t = 0; t < k_thresholds; ++t) {
    std::vector<double> rt, pt;
    for (std::size_t i = 0; i < ranked.recall.size(); ++i) {
      rt.push_back(ranked.recall[i][t]);
      pt.push_back(ranked.precision[i][t]);
    }
    const double ap = average_precision(rt, pt);
    if (t == 0) {
      metrics.ap50 = ap;
      pr_curve = pr_curve_points(rt, pt);
    }
    ap_sum += ap;
  }
  metrics.ap50_95 = ap_sum / k_thresholds;
}

// P and R at IoU 0.5 as functions of confidence (scores descending → negated for interp):
// numpy.interp(-conf, -scores, values, left=0) for recall; precision uses left=1.
DetectionEvaluator::ConfidenceCurves DetectionEvaluator::confidence_curves(const RankedCurves& ranked) {
  std::vector<double> neg_scores, r50, p50;
  for (std::size_t i = 0; i < ranked.scores.size(); ++i) {
    neg_scores.push_back(-ranked.scores[i]);
    r50.push_back(ranked.recall[i][0]);
    p50.push_back(ranked.precision[i][0]);
  }
  ConfidenceCurves curves{std::vector<double>(k_confidence_points), std::vector<double>(k_confidence_points)};
  if (neg_scores.empty()) return curves;
  for (std::size_t i = 0; i < k_confidence_points; ++i) {
    const double at = -(static_cast<double>(i) / (k_confidence_points - 1));
    curves.recall[i] = at < neg_scores.front() ? 0.0 : interp(at, neg_scores, r50);
    curves.precision[i] = at < neg_scores.front() ? 1.0 : interp(at, neg_scores, p50);
  }
  return curves;
}

// The confidence where the mean F1 over the classes, smoothed, is highest.
std::size_t DetectionEvaluator::best_f1_index(const std::vector<ConfidenceCurves>& curves) {
  std::vector<double> mean_f1(k_confidence_points, 0.0);
  for (const auto& c : curves) {
    for (std::size_t i = 0; i < k_confidence_points; ++i) {
      const double p = c.precision[i], r = c.recall[i];
      mean_f1[i] += 2 * p * r / (p + r + 1e-16) / static_cast<double>(curves.size());
    }
  }
  const auto smoothed = smooth(mean_f1, 0.1);
  return static_cast<std::size_t>(std::max_element(smoothed.begin(), smoothed.end()) - smoothed.begin());
}

DetectionMetrics DetectionEvaluator::compute() const {
  DetectionMetrics metrics;
  metrics.images = m_images;
  metrics.confusion = m_confusion;
  const std::size_t nc = m_names.size();
  metrics.pr_curve.resize(nc);
  const auto order = order_by_score();
  std::vector<std::size_t> evaluated;    // classes with ground truth
  std::vector<ConfidenceCurves> curves;  // of the evaluated classes
  for (std::size_t c = 0; c < nc; ++c) {
    ClassMetrics cm;
    cm.name = m_names[c];
    cm.instances = m_instances[c];
    cm.images = m_images_with_class[c];
    metrics.instances += cm.instances;
    if (cm.instances > 0) {
      const auto ranked = ranked_curves(c, order, cm.instances);
      read_average_precision(ranked, cm, metrics.pr_curve[c]);
      curves.push_back(confidence_curves(ranked));
      evaluated.push_back(c);
    }
    metrics.per_class.push_back(cm);
  }
  if (evaluated.empty()) return metrics;
  // Every class's P and R are read at the one confidence; the means are over evaluated classes.
  const std::size_t best = best_f1_index(curves);
  const auto n = static_cast<double>(evaluated.size());
  for (std::size_t k = 0; k < evaluated.size(); ++k) {
    auto& cm = metrics.per_class[evaluated[k]];
    cm.precision = curves[k].precision[best];
    cm.recall = curves[k].recall[best];
    metrics.precision += cm.precision / n;
    metrics.recall += cm.recall / n;
    metrics.map50 += cm.ap50 / n;
    metrics.map50_95 += cm.ap50_95 / n;
  }
  metrics.fitness = 0.1 * metrics.map50 + 0.9 * metrics.map50_95;
  return metrics;
}

nlohmann::json to_json(const DetectionMetrics& m) {
  nlohmann::json classes = nlohmann::json::array();
  for (const auto& c : m.per_class) {
    classes.push_back({{"name", c.name}, {"instances", c.instances}, {"images", c.images}, {"precision", c.precision},
                       {"recall", c.recall}, {"map50", c.ap50}, {"map50_95", c.ap50_95}});
  }
  return {{"images", m.images}, {"instances", m.instances}, {"precision", m.precision}, {"recall", m.recall},
          {"map50", m.map50}, {"map50_95", m.map50_95}, {"fitness", m.fitness}, {"per_class", classes},
          {"confusion_matrix", m.confusion}};
}

}  // namespace vision
