#include "vision/infer/decode.hpp"

#include <algorithm>

namespace vision {

namespace {

ScoredBox from_center(float cx, float cy, float w, float h, float score, int class_id) {
  return {{cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2}, score, class_id};
}

void keep_best(std::vector<ScoredBox>& boxes, int max_candidates) {
  if (static_cast<int>(boxes.size()) <= max_candidates) return;
  std::nth_element(boxes.begin(), boxes.begin() + max_candidates, boxes.end(),
                   [](const ScoredBox& a, const ScoredBox& b) { return a.score > b.score; });
  boxes.resize(static_cast<size_t>(max_candidates));
}

}  // namespace

std::vector<ScoredBox> decode_yolov8(const float* data, int channels, int anchors, const DecodeOptions& options) {
  const int classes = channels - 4;
  if (options.multi_label) {
    std::vector<ScoredBox> boxes;
    for (int c = 0; c < classes; ++c) {
      const float* row = data + static_cast<size_t>(4 + c) * static_cast<size_t>(anchors);
      for (int a = 0; a < anchors; ++a) {
        if (row[a] <= options.confidence) continue;
        boxes.push_back(from_center(data[a], data[anchors + a], data[2 * static_cast<size_t>(anchors) + a],
                                    data[3 * static_cast<size_t>(anchors) + a], row[a], c));
      }
    }
    keep_best(boxes, options.max_candidates);
    return boxes;
  }
  // Class rows are contiguous over anchors: a running max per anchor reads memory in order.
  std::vector<float> best_score(static_cast<size_t>(anchors), -1.0F);
  std::vector<int> best_class(static_cast<size_t>(anchors), 0);
  for (int c = 0; c < classes; ++c) {
    const float* row = data + static_cast<size_t>(4 + c) * static_cast<size_t>(anchors);
    for (int a = 0; a < anchors; ++a) {
      if (row[a] > best_score[a]) {
        best_score[a] = row[a];
        best_class[a] = c;
      }
    }
  }
  std::vector<ScoredBox> boxes;
  const float* cx = data;
  const float* cy = data + anchors;
  const float* w = data + 2 * static_cast<size_t>(anchors);
  const float* h = data + 3 * static_cast<size_t>(anchors);
  for (int a = 0; a < anchors; ++a) {
    if (best_score[a] < options.confidence) continue;
    boxes.push_back(from_center(cx[a], cy[a], w[a], h[a], best_score[a], best_class[a]));
  }
  keep_best(boxes, options.max_candidates);
  return boxes;
}

std::vector<ScoredBox> decode_yolov8_transposed(const float* data, int anchors, int channels, const DecodeOptions& options) {
  std::vector<ScoredBox> boxes;
  for (int a = 0; a < anchors; ++a) {
    const float* row = data + static_cast<size_t>(a) * static_cast<size_t>(channels);
    const float* best = std::max_element(row + 4, row + channels);
    if (*best < options.confidence) continue;
    boxes.push_back(from_center(row[0], row[1], row[2], row[3], *best, static_cast<int>(best - (row + 4))));
  }
  keep_best(boxes, options.max_candidates);
  return boxes;
}

std::vector<ScoredBox> decode_yolov5(const float* data, int anchors, int channels, const DecodeOptions& options) {
  std::vector<ScoredBox> boxes;
  for (int a = 0; a < anchors; ++a) {
    const float* row = data + static_cast<size_t>(a) * static_cast<size_t>(channels);
    const float objectness = row[4];
    if (objectness < options.confidence) continue;  // score ≤ objectness
    const float* best = std::max_element(row + 5, row + channels);
    const float score = objectness * *best;
    if (score < options.confidence) continue;
    boxes.push_back(from_center(row[0], row[1], row[2], row[3], score, static_cast<int>(best - (row + 5))));
  }
  keep_best(boxes, options.max_candidates);
  return boxes;
}

std::vector<ScoredBox> decode_boxes_labels_scores(const float* boxes, const std::int64_t* labels,
                                                  const float* scores, int count,
                                                  const DecodeOptions& options) {
  std::vector<ScoredBox> out;
  for (int i = 0; i < count; ++i) {
    if (scores[i] < options.confidence || labels[i] <= 0) continue;  // 0 is background
    const float* b = boxes + 4 * static_cast<size_t>(i);
    out.push_back({{b[0], b[1], b[2], b[3]}, scores[i], static_cast<int>(labels[i] - 1)});
  }
  keep_best(out, options.max_candidates);
  return out;
}

}  // namespace vision
