// Non-maximum suppression over xyxy boxes, class-aware by default (boxes of different classes
// never suppress each other), as Ultralytics applies it after a YOLO head.
#pragma once

#include <array>
#include <vector>

namespace vision {

struct ScoredBox {
  std::array<float, 4> xyxy{};
  float score = 0;
  int class_id = 0;
};

struct NmsOptions {
  float iou_threshold = 0.7F;   // suppress a box whose IoU with a kept box is above this
  int max_detections = 300;     // keep at most this many, best first
  bool class_aware = true;
};

float box_iou(const std::array<float, 4>& a, const std::array<float, 4>& b);

// Indices into `boxes` of the kept boxes, by descending score.
std::vector<int> nms(const std::vector<ScoredBox>& boxes, const NmsOptions& options);

}  // namespace vision
