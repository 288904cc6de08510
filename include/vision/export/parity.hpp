// How an exported model is proven against the checkpoint it came from: both run the same
// images, and their decoded outputs [N, 4 + nc, A] are compared value by value. Boxes are pixel
// coordinates (up to the input size), so they are compared relative to their magnitude; class
// scores lie in 0..1 and are compared absolutely. The bounds are far above the float noise of
// any CPU's kernels (a different summation order moves a 600 px box by about 1e-3 px) and far
// below what a wrong operator, constant or layout does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vision/core/error.hpp"

namespace vision {

struct ParityBounds {
  double box_relative = 1e-4;    // a box value passes when |a − b| ≤ box_relative · max(1, |b|)
  double score_absolute = 1e-4;  // a score passes when |a − b| ≤ score_absolute
  double box_pixels = 0;         // > 0: a box value passes when |a − b| ≤ box_pixels instead
  // > 0 (detections): two detections of one label whose scores are within tie_score and whose
  // boxes overlap by more than tie_iou are a tie NMS broke by float rounding (a model that pools
  // two maps at one stride gives such near-duplicates); an exported one may stand for a
  // reference one it ties with, and its box is then not held to the box bound.
  double tie_score = 0;
  double tie_iou = 0.5;
};

// Detections after NMS (Faster R-CNN) are compared box by box in pixels.
// Ties: scores within 1e-6 (the two runtimes differ by about 3e-8) of boxes overlapping beyond
// the box head's NMS IoU (0.5).
inline constexpr ParityBounds k_detection_parity_bounds{
    .box_relative = 0, .score_absolute = 1e-4, .box_pixels = 1e-2, .tie_score = 1e-6, .tie_iou = 0.5};

struct ParityReport {
  double max_box_diff = 0;    // the raw largest |a − b| over box values, in pixels
  double max_score_diff = 0;  // the raw largest |a − b| over class scores
  double box_margin = 0;      // the largest |a − b| / bound over box values: ≤ 1 passes
  double score_margin = 0;    // the same over scores; infinite when a value is not finite
  ParityBounds bounds;
  // Detections paired by compare_detections: a parity over none (a model that finds nothing
  // above its score threshold) proves nothing, so the report says how many there were.
  std::int64_t detections = 0;
  std::int64_t ties = 0;  // of them, paired with a tie (ParityBounds::tie_score) of another box
  bool ok() const { return box_margin <= 1 && score_margin <= 1; }
};

// Compares an export's output with the reference's (LibTorch's). Both are [N, channels, anchors]
// with rows 0..3 of each image the box (cx, cy, w, h) and the rest class scores. Fails when the
// sizes do not match each other or the layout.
Expected<ParityReport> compare_outputs(std::span<const float> exported, std::span<const float> reference,
                                       std::size_t channels, std::size_t anchors, const ParityBounds& bounds = {});

// One image's detections as an export and LibTorch give them: boxes x1 y1 x2 y2 (four values per
// detection) in the image's pixels, labels 1-based (0 = background), scores highest first.
struct DetectionList {
  std::vector<float> boxes;
  std::vector<std::int64_t> labels;
  std::vector<float> scores;
};

// Compares detections image by image: the counts must be equal and every reference detection
// is paired with the closest exported one of its label (equal scores leave their order to each
// runtime); a count or a label without a partner is an ErrorCode::runtime error naming the
// image. The pairs' boxes and scores are then held to `bounds`, except the box of a pair that is
// a tie (bounds.tie_score), which is counted in `ties`.
Expected<ParityReport> compare_detections(std::span<const DetectionList> exported, std::span<const DetectionList> reference,
                                          const ParityBounds& bounds = k_detection_parity_bounds);

// "ONNX Runtime and LibTorch differ by … on boxes (… of the bound) …": the figures of a report.
std::string describe(const ParityReport& report);

// {max_box_diff, max_score_diff, box_margin, score_margin, box_relative_bound, score_bound}
nlohmann::json to_json(const ParityReport& report);

}  // namespace vision
