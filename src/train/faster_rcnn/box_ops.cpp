// Box IoU, clipping, NMS, the box coder, the matcher and the sampler of the Faster R-CNN heads.
// Every constant and rule follows torchvision 0.21 (ops/boxes.py, models/detection/_utils.py).
#include "faster_rcnn/box_ops.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

namespace vision::train::faster_rcnn {

using torch::indexing::None;
using torch::indexing::Slice;

namespace {

// torchvision's batched_nms switches from the offset trick to one NMS per group above 4000
// coordinates (1000 boxes) on the CPU, where its benchmarks found the per-group loop faster.
constexpr int64_t k_offset_trick_max_boxes = 1000;

torch::Tensor box_area(const torch::Tensor& boxes) {
  return (boxes.select(1, 2) - boxes.select(1, 0)) * (boxes.select(1, 3) - boxes.select(1, 1));
}

// torchvision's CPU kernel (csrc/ops/cpu/nms_kernel.cpp): walk the boxes by score and let each
// survivor suppress the later ones; O(n²) comparisons but no n×n matrix, which at the RPN's
// 10 000 candidates per image would be 400 MB.
template <typename T>
std::vector<int64_t> greedy_nms(const torch::Tensor& boxes, const torch::Tensor& order,
                                double iou_threshold) {
  const int64_t n = boxes.size(0);
  const auto box = boxes.accessor<T, 2>();
  const auto* by_score = order.data_ptr<int64_t>();
  std::vector<T> areas(n);
  for (int64_t i = 0; i < n; ++i) areas[i] = (box[i][2] - box[i][0]) * (box[i][3] - box[i][1]);
  std::vector<char> suppressed(n, 0);
  std::vector<int64_t> keep;
  for (int64_t a = 0; a < n; ++a) {
    const int64_t i = by_score[a];
    if (suppressed[i]) continue;
    keep.push_back(i);
    for (int64_t b = a + 1; b < n; ++b) {
      const int64_t j = by_score[b];
      if (suppressed[j]) continue;
      const T w = std::max(T(0), std::min(box[i][2], box[j][2]) - std::max(box[i][0], box[j][0]));
      const T h = std::max(T(0), std::min(box[i][3], box[j][3]) - std::max(box[i][1], box[j][1]));
      const T inter = w * h;
      if (inter / (areas[i] + areas[j] - inter) > iou_threshold) suppressed[j] = 1;
    }
  }
  return keep;
}

}  // namespace

torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  const auto lt =
      torch::max(a.index({Slice(), None, Slice(0, 2)}), b.index({Slice(), Slice(0, 2)}));
  const auto rb =
      torch::min(a.index({Slice(), None, Slice(2, 4)}), b.index({Slice(), Slice(2, 4)}));
  const auto wh = (rb - lt).clamp_min(0);
  const auto inter = wh.select(2, 0) * wh.select(2, 1);
  return inter / (box_area(a).unsqueeze(1) + box_area(b).unsqueeze(0) - inter);
}

torch::Tensor clip_boxes_to_image(const torch::Tensor& boxes, const std::array<int64_t, 2>& size) {
  const auto x = boxes.index({"...", Slice(0, None, 2)}).clamp(0, size[1]);
  const auto y = boxes.index({"...", Slice(1, None, 2)}).clamp(0, size[0]);
  return torch::stack({x, y}, -1).reshape(boxes.sizes());
}

torch::Tensor remove_small_boxes(const torch::Tensor& boxes, double min_size) {
  const auto w = boxes.select(1, 2) - boxes.select(1, 0);
  const auto h = boxes.select(1, 3) - boxes.select(1, 1);
  return torch::where((w >= min_size) & (h >= min_size))[0];
}

torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold) {
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "nms: boxes must be [N, 4]");
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0), "nms: scores must be [N]");
  const auto long_options = torch::TensorOptions().dtype(torch::kLong).device(boxes.device());
  if (boxes.size(0) == 0) return torch::empty({0}, long_options);
  const auto order =
      std::get<1>(scores.detach().cpu().sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const bool as_float = boxes.scalar_type() == torch::kFloat;
  const auto host = boxes.detach().cpu().to(as_float ? torch::kFloat : torch::kDouble).contiguous();
  auto keep = as_float ? greedy_nms<float>(host, order, iou_threshold)
                       : greedy_nms<double>(host, order, iou_threshold);
  return torch::tensor(keep, torch::kLong).to(boxes.device());
}

torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores,
                          const torch::Tensor& groups, double iou_threshold) {
  if (boxes.numel() == 0)
    return torch::empty({0}, torch::TensorOptions().dtype(torch::kLong).device(boxes.device()));
  if (boxes.size(0) <= k_offset_trick_max_boxes) {
    const auto offsets = groups.to(boxes.scalar_type()) * (boxes.max() + 1);
    return nms(boxes + offsets.unsqueeze(1), scores, iou_threshold);
  }
  // Many boxes: one NMS per group, so no pair of different groups is ever compared; the same
  // result, sorted by score again (ties by index, as one NMS over all would order them).
  std::vector<torch::Tensor> kept;
  for (const auto& group : std::get<0>(torch::_unique(groups)).unbind()) {
    const auto members = torch::where(groups == group)[0];
    kept.push_back(members.index_select(
        0, nms(boxes.index_select(0, members), scores.index_select(0, members), iou_threshold)));
  }
  const auto keep = std::get<0>(torch::cat(kept).sort());
  return keep.index_select(
      0, std::get<1>(scores.index_select(0, keep).sort(/*stable=*/true, 0, /*descending=*/true)));
}

BoxCoder::BoxCoder(std::array<double, 4> weights, double clip) : m_weights(weights), m_clip(clip) {}

torch::Tensor BoxCoder::encode(const torch::Tensor& boxes, const torch::Tensor& references) const {
  const auto ref_w = references.select(1, 2) - references.select(1, 0);
  const auto ref_h = references.select(1, 3) - references.select(1, 1);
  const auto ref_x = references.select(1, 0) + 0.5 * ref_w;
  const auto ref_y = references.select(1, 1) + 0.5 * ref_h;
  const auto w = boxes.select(1, 2) - boxes.select(1, 0);
  const auto h = boxes.select(1, 3) - boxes.select(1, 1);
  const auto x = boxes.select(1, 0) + 0.5 * w;
  const auto y = boxes.select(1, 1) + 0.5 * h;
  return torch::stack({m_weights[0] * (x - ref_x) / ref_w, m_weights[1] * (y - ref_y) / ref_h,
                       m_weights[2] * torch::log(w / ref_w), m_weights[3] * torch::log(h / ref_h)},
                      1);
}

torch::Tensor BoxCoder::decode(const torch::Tensor& codes, const torch::Tensor& references) const {
  const auto refs = references.to(codes.scalar_type());
  const auto w = (refs.select(1, 2) - refs.select(1, 0)).unsqueeze(1);
  const auto h = (refs.select(1, 3) - refs.select(1, 1)).unsqueeze(1);
  const auto x = refs.select(1, 0).unsqueeze(1) + 0.5 * w;
  const auto y = refs.select(1, 1).unsqueeze(1) + 0.5 * h;
  // Sizes spelled out: with no box at all (an image whose proposals all fell under the RPN's
  // score threshold) a -1 would be ambiguous.
  const auto per_box = codes.reshape({codes.size(0), codes.size(-1) / 4, 4});
  const auto cx = per_box.select(2, 0) / m_weights[0] * w + x;
  const auto cy = per_box.select(2, 1) / m_weights[1] * h + y;
  const auto half_w = 0.5 * torch::exp((per_box.select(2, 2) / m_weights[2]).clamp_max(m_clip)) * w;
  const auto half_h = 0.5 * torch::exp((per_box.select(2, 3) / m_weights[3]).clamp_max(m_clip)) * h;
  return torch::stack({cx - half_w, cy - half_h, cx + half_w, cy + half_h}, 2);
}

Matcher::Matcher(double high_threshold, double low_threshold, bool allow_low_quality_matches)
    : m_high(high_threshold), m_low(low_threshold), m_allow_low_quality(allow_low_quality_matches) {
  TORCH_CHECK(low_threshold <= high_threshold, "Matcher: low threshold above high threshold");
}

torch::Tensor Matcher::operator()(const torch::Tensor& iou) const {
  TORCH_CHECK(iou.size(0) > 0, "Matcher: no ground-truth boxes");
  TORCH_CHECK(iou.size(1) > 0, "Matcher: no predictions");
  auto [best, matches] = iou.max(0);
  const auto best_gt = matches.clone();
  matches.masked_fill_(best < m_low, k_below_low_threshold);
  matches.masked_fill_((best >= m_low) & (best < m_high), k_between_thresholds);
  if (!m_allow_low_quality) return matches;
  // Every prediction that ties for some gt's highest IoU gets its best gt back (ties included).
  const auto ties = (iou == std::get<0>(iou.max(1)).unsqueeze(1)).any(0);
  return torch::where(ties, best_gt, matches);
}

std::pair<torch::Tensor, torch::Tensor> sample_balanced(const torch::Tensor& labels,
                                                        int64_t batch_size,
                                                        double positive_fraction) {
  const auto positive = torch::where(labels >= 1)[0];
  const auto negative = torch::where(labels == 0)[0];
  const int64_t num_pos =
      std::min(positive.numel(), static_cast<int64_t>(batch_size * positive_fraction));
  const int64_t num_neg = std::min(negative.numel(), batch_size - num_pos);
  const auto index_options = torch::TensorOptions().dtype(torch::kLong).device(labels.device());
  const auto chosen_pos =
      positive.index({torch::randperm(positive.numel(), index_options).slice(0, 0, num_pos)});
  const auto chosen_neg =
      negative.index({torch::randperm(negative.numel(), index_options).slice(0, 0, num_neg)});
  const auto mask_options = torch::TensorOptions().dtype(torch::kBool).device(labels.device());
  return {torch::zeros({labels.size(0)}, mask_options).index_fill_(0, chosen_pos, true),
          torch::zeros({labels.size(0)}, mask_options).index_fill_(0, chosen_neg, true)};
}

}  // namespace vision::train::faster_rcnn
