// Decoding raw detector outputs into scored xyxy boxes in model-input pixels, one image at a
// time. Layouts are described in model_info.hpp.
#pragma once

#include <cstdint>
#include <vector>

#include "vision/image/nms.hpp"

namespace vision {

struct DecodeOptions {
  float confidence = 0.25F;     // drop boxes scoring below this
  int max_candidates = 30000;   // keep at most this many (best first) for NMS
  // Every class above the threshold makes its own box (validation, as Ultralytics does);
  // otherwise a box keeps its best class only. yolov8 layouts only.
  bool multi_label = false;
};

// [4+nc, A]: rows cx, cy, w, h, then one row per class.
std::vector<ScoredBox> decode_yolov8(const float* data, int channels, int anchors, const DecodeOptions& options);
// [A, 4+nc]
std::vector<ScoredBox> decode_yolov8_transposed(const float* data, int anchors, int channels, const DecodeOptions& options);
// [A, 5+nc]: cx, cy, w, h, objectness, class scores; score = objectness × class score.
std::vector<ScoredBox> decode_yolov5(const float* data, int anchors, int channels, const DecodeOptions& options);
// boxes [K, 4] xyxy, labels [K] with 0 = background (class id = label - 1), scores [K].
std::vector<ScoredBox> decode_boxes_labels_scores(const float* boxes, const std::int64_t* labels,
                                                  const float* scores, int count,
                                                  const DecodeOptions& options);

}  // namespace vision
