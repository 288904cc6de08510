#include "vision/export/parity.hpp"

#include <algorithm>
#include <cmath>
#include <format>
#include <limits>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

namespace vision {

namespace {

// diff / bound, infinite for a value that is not finite so that NaN never passes.
double margin(double diff, double bound) {
  return std::isfinite(diff) ? diff / bound : std::numeric_limits<double>::infinity();
}

// Intersection over union of two x1 y1 x2 y2 boxes.
double iou(const float* a, const float* b) {
  const double w = std::max(0.0F, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const double h = std::max(0.0F, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const double both = w * h;
  const double either = static_cast<double>(a[2] - a[0]) * (a[3] - a[1]) + static_cast<double>(b[2] - b[0]) * (b[3] - b[1]) - both;
  return either > 0 ? both / either : 0;
}

}  // namespace

Expected<ParityReport> compare_outputs(std::span<const float> exported, std::span<const float> reference,
                                       std::size_t channels, std::size_t anchors, const ParityBounds& bounds) {
  if (exported.size() != reference.size()) {
    return fail(ErrorCode::runtime, std::format("the export gives {} values, the checkpoint {}", exported.size(),
                                                reference.size()));
  }
  if (channels <= 4 || anchors == 0 || reference.size() % (channels * anchors) != 0) {
    return fail(ErrorCode::runtime, std::format("{} values do not form outputs of {} channels × {} anchors",
                                                reference.size(), channels, anchors));
  }
  ParityReport report;
  report.bounds = bounds;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    const double want = reference[i];
    const double diff = std::abs(static_cast<double>(exported[i]) - want);
    const bool finite = std::isfinite(diff);
    if ((i / anchors) % channels < 4) {
      report.max_box_diff = finite ? std::max(report.max_box_diff, diff) : diff;
      report.box_margin = std::max(report.box_margin, margin(diff, bounds.box_relative * std::max(1.0, std::abs(want))));
    } else {
      report.max_score_diff = finite ? std::max(report.max_score_diff, diff) : diff;
      report.score_margin = std::max(report.score_margin, margin(diff, bounds.score_absolute));
    }
    if (!finite) break;
  }
  return report;
}

Expected<ParityReport> compare_detections(std::span<const DetectionList> exported, std::span<const DetectionList> reference,
                                          const ParityBounds& bounds) {
  if (exported.size() != reference.size()) {
    return fail(ErrorCode::runtime, std::format("the export gives detections for {} images, the checkpoint {}",
                                                exported.size(), reference.size()));
  }
  ParityReport report;
  report.bounds = bounds;
  const auto track = [](double diff, double bound, double& max_diff, double& worst) {
    max_diff = std::isfinite(diff) ? std::max(max_diff, diff) : diff;
    worst = std::max(worst, margin(diff, bound));
  };
  for (size_t image = 0; image < reference.size(); ++image) {
    const auto& a = exported[image];
    const auto& b = reference[image];
    if (a.labels.size() != b.labels.size() || a.scores.size() != b.scores.size() || a.boxes.size() != b.boxes.size()) {
      return fail(ErrorCode::runtime, std::format("image {}: the export finds {} objects, the checkpoint {}", image,
                                                  a.scores.size(), b.scores.size()));
    }
    // Equal scores (a flat image region gives identical boxes features) leave the order among
    // them to each runtime's sort, so each reference detection is matched with the closest
    // unmatched exported one of its label.
    std::vector<bool> taken(a.scores.size(), false);
    for (size_t i = 0; i < b.scores.size(); ++i) {
      std::optional<size_t> match;
      double match_diff = 0;
      for (size_t j = 0; j < a.scores.size(); ++j) {
        if (taken[j] || a.labels[j] != b.labels[i]) continue;
        double diff = std::abs(static_cast<double>(a.scores[j]) - b.scores[i]) / bounds.score_absolute;
        for (size_t c = 0; c < 4; ++c) diff = std::max(diff, std::abs(static_cast<double>(a.boxes[4 * j + c]) - b.boxes[4 * i + c]));
        if (!match || diff < match_diff) {
          match = j;
          match_diff = diff;
        }
      }
      if (!match) {
        return fail(ErrorCode::runtime, std::format("image {}: the export has no object of label {} left", image, b.labels[i]));
      }
      taken[*match] = true;
      ++report.detections;
      const float* exported_box = &a.boxes[4 * *match];
      const float* reference_box = &b.boxes[4 * i];
      double box_diff = 0;
      for (size_t c = 0; c < 4; ++c) box_diff = std::max(box_diff, static_cast<double>(std::abs(exported_box[c] - reference_box[c])));
      const bool swapped_tie = bounds.tie_score > 0 && box_diff > bounds.box_pixels &&
                               std::abs(static_cast<double>(a.scores[*match]) - b.scores[i]) <= bounds.tie_score &&
                               iou(exported_box, reference_box) > bounds.tie_iou;
      if (swapped_tie) {
        ++report.ties;
      } else {
        for (size_t c = 0; c < 4; ++c) {
          const double want = reference_box[c];
          const double bound = bounds.box_pixels > 0 ? bounds.box_pixels : bounds.box_relative * std::max(1.0, std::abs(want));
          track(std::abs(static_cast<double>(exported_box[c]) - want), bound, report.max_box_diff, report.box_margin);
        }
      }
      track(std::abs(static_cast<double>(a.scores[*match]) - b.scores[i]), bounds.score_absolute, report.max_score_diff,
            report.score_margin);
    }
  }
  return report;
}

std::string describe(const ParityReport& r) {
  if (r.bounds.box_pixels > 0) {
    return std::format(
        "ONNX Runtime and LibTorch differ by {:.6g} px on boxes ({:.3g} of the bound {:g} px) and by {:.6g} on scores "
        "({:.3g} of the bound {:g})",
        r.max_box_diff, r.box_margin, r.bounds.box_pixels, r.max_score_diff, r.score_margin, r.bounds.score_absolute);
  }
  return std::format(
      "ONNX Runtime and LibTorch differ by {:.6g} px on boxes ({:.3g} of the bound {:g}·max(1, |value|)) and "
      "by {:.6g} on scores ({:.3g} of the bound {:g})",
      r.max_box_diff, r.box_margin, r.bounds.box_relative, r.max_score_diff, r.score_margin, r.bounds.score_absolute);
}

nlohmann::json to_json(const ParityReport& r) {
  // JSON has no infinity: a non-finite margin is written as null.
  const auto number = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  nlohmann::json j = {{"max_box_diff", number(r.max_box_diff)},
                      {"max_score_diff", number(r.max_score_diff)},
                      {"box_margin", number(r.box_margin)},
                      {"score_margin", number(r.score_margin)},
                      {"box_relative_bound", r.bounds.box_relative},
                      {"score_bound", r.bounds.score_absolute}};
  if (r.bounds.box_pixels > 0) {
    j["box_pixel_bound"] = r.bounds.box_pixels;
    j["detections"] = r.detections;
    j["ties"] = r.ties;
  }
  return j;
}

}  // namespace vision
