// The YOLOv8 detection loss: decode the head's maps, assign, then BCE, CIoU and DFL.
#include "detection_loss.hpp"

#include <torch/torch.h>

#include "box_losses.hpp"
#include "vision/train/yolo_layers.hpp"

namespace vision::train {

LossResult detection_loss(const std::vector<torch::Tensor>& raw, const BatchTargets& targets, int num_classes,
                          int reg_max, const std::vector<double>& strides, const AssignerOptions& assigner_options,
                          const LossGains& gains, const LossScope& scope) {
  const auto batch = raw[0].size(0);
  const auto options = raw[0].options();
  const int channels = 4 * reg_max + num_classes;
  const auto grid = anchor_grid(raw, strides);
  const auto all = grid.maps.permute({0, 2, 1});  // [B, A, C]
  const auto pred_distribution = all.slice(2, 0, 4 * reg_max);
  const auto pred_logits = all.slice(2, 4 * reg_max, channels);
  const auto& anchor_points = grid.points;  // grid units
  const auto& stride = grid.strides;
  const auto anchors = anchor_points.size(0);
  const double image_h = static_cast<double>(raw[0].size(2)) * strides[0];
  const double image_w = static_cast<double>(raw[0].size(3)) * strides[0];

  // Targets padded per image: [B, n_max, 5] (class, x1, y1, x2, y2 in pixels).
  const auto counts = torch::bincount(targets.image_index.to(torch::kCPU), {}, batch);
  const auto n_max = batch > 0 && targets.image_index.numel() > 0 ? counts.max().item<std::int64_t>() : 0;
  auto gt = torch::zeros({batch, n_max, 5}, options);
  if (n_max > 0) {
    // Each target's slot in its image's row, counted on the CPU; then one scatter of all rows
    // instead of a handful of small tensor operations per target.
    const auto index = targets.image_index.to(torch::kCPU, torch::kLong).contiguous();
    const auto* image_of = index.data_ptr<std::int64_t>();
    std::vector<std::int64_t> filled(static_cast<size_t>(batch), 0);
    std::vector<std::int64_t> slot(static_cast<size_t>(index.size(0)));
    for (size_t m = 0; m < slot.size(); ++m) slot[m] = filled[static_cast<size_t>(image_of[m])]++;
    const auto xywh = targets.boxes.to(options);
    const auto xyxy = torch::stack({(xywh.select(1, 0) - xywh.select(1, 2) / 2) * image_w, (xywh.select(1, 1) - xywh.select(1, 3) / 2) * image_h,
                                    (xywh.select(1, 0) + xywh.select(1, 2) / 2) * image_w, (xywh.select(1, 1) + xywh.select(1, 3) / 2) * image_h},
                                   1);
    const auto rows = torch::cat({targets.classes.to(options).unsqueeze(1), xyxy}, 1);
    gt.index_put_({index.to(options.device()), torch::tensor(slot, torch::kLong).to(options.device())}, rows);
  }
  const auto gt_labels = gt.slice(2, 0, 1);
  const auto gt_boxes = gt.slice(2, 1, 5);
  const auto gt_mask = gt_boxes.sum(2, true).gt(0).to(options.dtype());

  // Predicted boxes in grid units from the distributions (softmax expectation per side).
  const auto projection = torch::arange(reg_max, options);
  const auto distances = pred_distribution.view({batch, anchors, 4, reg_max}).softmax(3).matmul(projection);
  const auto pred_boxes = distances_to_box(anchor_points, distances);

  AssignerOptions assigner = assigner_options;
  assigner.num_classes = num_classes;
  const auto a = assign(assigner, pred_logits.detach().sigmoid(), pred_boxes.detach() * stride, anchor_points * stride,
                        gt_labels, gt_boxes, gt_mask);
  const double local_score_sum = a.target_scores.sum().item<double>();
  const auto score_sum = std::max(scope.sum_over_ranks ? scope.sum_over_ranks(local_score_sum) : local_score_sum, 1.0);

  namespace F = torch::nn::functional;
  const auto cls = F::binary_cross_entropy_with_logits(pred_logits, a.target_scores,
                                                       F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
                       .sum() /
                   score_sum;
  auto box = torch::zeros({}, options);
  auto dfl = torch::zeros({}, options);
  if (a.foreground.any().item<bool>()) {
    const auto fg = a.foreground;
    const auto weight = a.target_scores.sum(-1).index({fg}).unsqueeze(-1);
    const auto target_boxes = a.target_boxes / stride;  // grid units, like the predictions
    const auto iou = ciou(pred_boxes.index({fg}), target_boxes.index({fg}));
    box = ((1.0 - iou).unsqueeze(-1) * weight).sum() / score_sum;
    const auto target_distances = box_to_distances(anchor_points.unsqueeze(0).expand({batch, -1, -1}).index({fg}),
                                                   target_boxes.index({fg}), reg_max);
    const auto fg_distribution = pred_distribution.index({fg}).view({-1, 4, reg_max});
    dfl = (distribution_focal_loss(fg_distribution, target_distances) * weight).sum() / score_sum;
  } else if (scope.sum_over_ranks) {
    // A rank without positives still gives the box branch a (zero) gradient: the reducer waits
    // for every parameter's gradient before it all-reduces a bucket.
    box = pred_distribution.sum() * 0.0;
  }
  LossResult result;
  const auto weighted_box = box * gains.box, weighted_cls = cls * gains.cls, weighted_dfl = dfl * gains.dfl;
  const double scale = scope.sum_over_ranks ? scope.batch_scale : static_cast<double>(batch);
  result.total = (weighted_box + weighted_cls + weighted_dfl) * scale;
  result.box = weighted_box.item<double>();
  result.cls = weighted_cls.item<double>();
  result.dfl = weighted_dfl.item<double>();
  return result;
}

}  // namespace vision::train
