#include "vision/image/nms.hpp"

#include <algorithm>
#include <numeric>

namespace vision {

float box_iou(const std::array<float, 4>& a, const std::array<float, 4>& b) {
  const float iw = std::min(a[2], b[2]) - std::max(a[0], b[0]);
  const float ih = std::min(a[3], b[3]) - std::max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0.0F;
  const float inter = iw * ih;
  const float area_a = (a[2] - a[0]) * (a[3] - a[1]);
  const float area_b = (b[2] - b[0]) * (b[3] - b[1]);
  const float uni = area_a + area_b - inter;
  return uni > 0 ? inter / uni : 0.0F;
}

std::vector<int> nms(const std::vector<ScoredBox>& boxes, const NmsOptions& options) {
  std::vector<int> order(boxes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return boxes[a].score > boxes[b].score; });
  std::vector<int> kept;
  std::vector<char> suppressed(boxes.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) {
    if (suppressed[i]) continue;
    const ScoredBox& best = boxes[order[i]];
    kept.push_back(order[i]);
    if (static_cast<int>(kept.size()) >= options.max_detections) break;
    for (size_t j = i + 1; j < order.size(); ++j) {
      if (suppressed[j]) continue;
      const ScoredBox& other = boxes[order[j]];
      if (options.class_aware && other.class_id != best.class_id) continue;
      if (box_iou(best.xyxy, other.xyxy) > options.iou_threshold) suppressed[j] = 1;
    }
  }
  return kept;
}

}  // namespace vision
