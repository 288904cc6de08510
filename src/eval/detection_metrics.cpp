#include "vision/eval/detection_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "vision/image/nms.hpp"

namespace vision {

namespace {

constexpr int k_thresholds = 10;  // IoU 0.50, 0.55, …, 0.95
constexpr float k_confusion_conf = 0.25F;
constexpr float k_confusion_iou = 0.45F;

float iou_threshold(int t) { return 0.5F + 0.05F * static_cast<float>(t); }

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
  for (int t = 0; t < k_thresholds; ++t) {
    const auto pairs = greedy_pairs(iou, predictions.size(), [&](size_t g, size_t p) {
      return truth[g].class_id == predictions[p].class_id && iou[g][p] >= iou_threshold(t);
    });
    for (const auto& pair : pairs) tp[pair.prediction][static_cast<size_t>(t)] = true;
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

DetectionMetrics DetectionEvaluator::compute() const {
  DetectionMetrics metrics;
  metrics.images = m_images;
  metrics.confusion = m_confusion;
  const size_t nc = m_names.size();
  metrics.pr_curve.resize(nc);
  std::vector<size_t> order(m_predictions.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return m_predictions[a].score > m_predictions[b].score; });

  constexpr int k_points = 1000;  // confidence grid for the P, R and F1 curves
  std::vector<std::vector<double>> p_curve, r_curve;
  std::vector<size_t> evaluated;  // classes with ground truth
  for (size_t c = 0; c < nc; ++c) {
    ClassMetrics cm;
    cm.name = m_names[c];
    cm.instances = m_instances[c];
    cm.images = m_images_with_class[c];
    metrics.instances += cm.instances;
    if (cm.instances == 0) {
      metrics.per_class.push_back(cm);
      continue;
    }
    evaluated.push_back(c);
    std::vector<double> scores;
    std::vector<std::array<double, 10>> recall, precision;
    std::array<double, 10> tpc{}, fpc{};
    for (size_t index : order) {
      const auto& p = m_predictions[index];
      if (p.class_id != static_cast<int>(c)) continue;
      scores.push_back(p.score);
      std::array<double, 10> r{}, pr{};
      for (int t = 0; t < k_thresholds; ++t) {
        (p.true_positive[static_cast<size_t>(t)] ? tpc : fpc)[static_cast<size_t>(t)] += 1;
        r[static_cast<size_t>(t)] = tpc[static_cast<size_t>(t)] / (static_cast<double>(cm.instances) + 1e-16);
        pr[static_cast<size_t>(t)] = tpc[static_cast<size_t>(t)] / (tpc[static_cast<size_t>(t)] + fpc[static_cast<size_t>(t)]);
      }
      recall.push_back(r);
      precision.push_back(pr);
    }
    double ap_sum = 0;
    for (int t = 0; t < k_thresholds; ++t) {
      std::vector<double> rt, pt;
      for (size_t i = 0; i < recall.size(); ++i) {
        rt.push_back(recall[i][static_cast<size_t>(t)]);
        pt.push_back(precision[i][static_cast<size_t>(t)]);
      }
      const double ap = average_precision(rt, pt);
      if (t == 0) {
        cm.ap50 = ap;
        metrics.pr_curve[c] = pr_curve_points(rt, pt);
      }
      ap_sum += ap;
    }
    cm.ap50_95 = ap_sum / k_thresholds;
    // P and R at IoU 0.5 as functions of confidence (scores descending → reversed for interp).
    std::vector<double> neg_scores, r50, p50;
    for (size_t i = 0; i < scores.size(); ++i) {
      neg_scores.push_back(-scores[i]);
      r50.push_back(recall[i][0]);
      p50.push_back(precision[i][0]);
    }
    std::vector<double> pc(k_points), rc(k_points);
    for (int i = 0; i < k_points; ++i) {
      const double conf = static_cast<double>(i) / (k_points - 1);
      if (scores.empty()) {
        pc[static_cast<size_t>(i)] = 0;
        rc[static_cast<size_t>(i)] = 0;
        continue;
      }
      // numpy.interp(-conf, -scores, values, left=0) for recall; precision uses left=1.
      const double at = -conf;
      rc[static_cast<size_t>(i)] = at < neg_scores.front() ? 0.0 : interp(at, neg_scores, r50);
      pc[static_cast<size_t>(i)] = at < neg_scores.front() ? 1.0 : interp(at, neg_scores, p50);
    }
    p_curve.push_back(pc);
    r_curve.push_back(rc);
    metrics.per_class.push_back(cm);
  }
  if (evaluated.empty()) return metrics;
  std::vector<double> mean_f1(k_points, 0.0);
  for (size_t k = 0; k < evaluated.size(); ++k) {
    for (int i = 0; i < k_points; ++i) {
      const double p = p_curve[k][static_cast<size_t>(i)], r = r_curve[k][static_cast<size_t>(i)];
      mean_f1[static_cast<size_t>(i)] += 2 * p * r / (p + r + 1e-16) / static_cast<double>(evaluated.size());
    }
  }
  const auto smoothed = smooth(mean_f1, 0.1);
  const size_t best = static_cast<size_t>(std::max_element(smoothed.begin(), smoothed.end()) - smoothed.begin());
  for (size_t k = 0; k < evaluated.size(); ++k) {
    auto& cm = metrics.per_class[evaluated[k]];
    cm.precision = p_curve[k][best];
    cm.recall = r_curve[k][best];
    metrics.precision += cm.precision / static_cast<double>(evaluated.size());
    metrics.recall += cm.recall / static_cast<double>(evaluated.size());
    metrics.map50 += cm.ap50 / static_cast<double>(evaluated.size());
    metrics.map50_95 += cm.ap50_95 / static_cast<double>(evaluated.size());
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
