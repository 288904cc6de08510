// The task-aligned assigner: alignment metric, top-k candidates inside each box, one box per
// anchor, soft class targets.
#include "assigner.hpp"

#include <torch/torch.h>

#include "box_losses.hpp"

namespace vision::train {

namespace {
using torch::indexing::None;
using torch::indexing::Slice;

// [b, n, A] true where the anchor centre lies strictly inside the box.
torch::Tensor anchors_inside(const torch::Tensor& points, const torch::Tensor& gt_boxes, double eps) {
  const auto b = gt_boxes.size(0), n = gt_boxes.size(1), a = points.size(0);
  const auto boxes = gt_boxes.view({-1, 1, 4});
  const auto lt = boxes.slice(2, 0, 2), rb = boxes.slice(2, 2, 4);
  const auto deltas = torch::cat({points.unsqueeze(0) - lt, rb - points.unsqueeze(0)}, 2).view({b, n, a, -1});
  return std::get<0>(deltas.min(3)).gt(eps);
}
}  // namespace

Assignment assign(const AssignerOptions& o, const torch::Tensor& pred_scores, const torch::Tensor& pred_boxes,
                  const torch::Tensor& anchor_points, const torch::Tensor& gt_labels, const torch::Tensor& gt_boxes,
                  const torch::Tensor& gt_mask) {
  torch::NoGradGuard no_grad;
  const auto batch = pred_scores.size(0);
  const auto anchors = pred_scores.size(1);
  const auto n_max = gt_boxes.size(1);
  const auto device = pred_scores.device();
  Assignment out;
  if (n_max == 0) {
    out.target_labels = torch::full({batch, anchors}, o.num_classes, torch::TensorOptions(torch::kLong).device(device));
    out.target_boxes = torch::zeros_like(pred_boxes);
    out.target_scores = torch::zeros_like(pred_scores);
    out.foreground = torch::zeros({batch, anchors}, torch::TensorOptions(torch::kBool).device(device));
    out.target_gt = torch::zeros({batch, anchors}, torch::TensorOptions(torch::kLong).device(device));
    return out;
  }
  const auto in_gts = anchors_inside(anchor_points, gt_boxes, o.eps);            // [b, n, A]
  const auto candidates = in_gts & gt_mask.to(torch::kBool).expand({batch, n_max, anchors});

  // Alignment metric on the candidates: score of the box's class × IoU^β.
  auto overlaps = torch::zeros({batch, n_max, anchors}, pred_boxes.options());
  auto scores = torch::zeros({batch, n_max, anchors}, pred_scores.options());
  const auto labels = gt_labels.to(torch::kLong).squeeze(-1);                    // [b, n]
  const auto batch_index = torch::arange(batch, labels.options()).view({-1, 1}).expand({-1, n_max});
  // pred_scores[b, :, label] → [b, n, A]
  const auto class_scores = pred_scores.permute({0, 2, 1}).index({batch_index, labels});
  scores.masked_scatter_(candidates, class_scores.masked_select(candidates));
  const auto gt_expanded = gt_boxes.unsqueeze(2).expand({-1, -1, anchors, -1}).index({candidates});
  const auto pd_expanded = pred_boxes.unsqueeze(1).expand({-1, n_max, -1, -1}).index({candidates});
  overlaps.masked_scatter_(candidates, ciou(gt_expanded, pd_expanded).squeeze(-1).clamp_min(0));
  const auto align = scores.pow(o.alpha) * overlaps.pow(o.beta);

  // Top-k anchors per box (over all anchors, as Ultralytics does), kept where they are candidates.
  const int k = static_cast<int>(std::min<std::int64_t>(o.topk, anchors));
  const auto topk_index = std::get<1>(align.topk(k, -1, true));                  // [b, n, k]
  auto in_topk = torch::zeros({batch, n_max, anchors}, align.options());
  in_topk.scatter_add_(-1, topk_index, torch::ones_like(topk_index, align.options()));
  auto positive = in_topk.gt(0) & candidates;                                    // [b, n, A]

  // An anchor claimed by several boxes keeps the one it overlaps most.
  auto claims = positive.sum(1);                                                 // [b, A]
  const auto contested = claims.gt(1);
  if (contested.any().item<bool>()) {
    const auto best = overlaps.argmax(1);                                        // [b, A]
    const auto best_one_hot = torch::one_hot(best, n_max).permute({0, 2, 1}).to(torch::kBool);
    positive = torch::where(contested.unsqueeze(1).expand_as(positive), best_one_hot, positive);
  }
  out.foreground = positive.any(1);
  out.target_gt = positive.to(torch::kLong).argmax(1);                           // [b, A]
  const auto flat_index = out.target_gt + torch::arange(batch, out.target_gt.options()).unsqueeze(1) * n_max;
  out.target_labels = labels.flatten().index({flat_index}).clamp_min(0);
  out.target_boxes = gt_boxes.view({-1, 4}).index({flat_index});
  auto target_scores = torch::one_hot(out.target_labels, o.num_classes).to(pred_scores.scalar_type());
  target_scores = target_scores * out.foreground.unsqueeze(-1).to(target_scores.scalar_type());

  // Soft targets: alignment normalised per box so the best anchor reaches that box's best IoU.
  const auto positive_f = positive.to(align.scalar_type());
  const auto masked_align = align * positive_f;
  const auto box_best_align = std::get<0>(masked_align.max(-1, true));
  const auto box_best_overlap = std::get<0>((overlaps * positive_f).max(-1, true));
  const auto normalised = std::get<0>((masked_align * box_best_overlap / (box_best_align + o.eps)).max(-2));  // [b, A]
  out.target_scores = target_scores * normalised.unsqueeze(-1);
  return out;
}

}  // namespace vision::train
