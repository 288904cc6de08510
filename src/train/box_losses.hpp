// The box terms of the YOLOv8 loss, as Ultralytics defines them: complete IoU (CIoU) between
// xyxy boxes, the distribution focal loss (DFL) over reg_max bins, and the conversions between
// boxes and the per-side distances the head predicts. Private to src/train.
#pragma once

#include <torch/types.h>

namespace vision::train {

// CIoU of matching rows of [..., 4] xyxy boxes: IoU − ρ²/c² − α·v (1 for identical boxes).
torch::Tensor ciou(const torch::Tensor& box1, const torch::Tensor& box2, double eps = 1e-7);

// Boxes [..., 4] xyxy → distances (left, top, right, bottom) from anchor points [..., 2],
// clamped to [0, reg_max − 1 − 0.01] as the DFL targets.
torch::Tensor box_to_distances(const torch::Tensor& anchor_points, const torch::Tensor& boxes, int reg_max);
// Distances [..., 4] (lt, rb) from anchor points [..., 2] → boxes xyxy.
torch::Tensor distances_to_box(const torch::Tensor& anchor_points, const torch::Tensor& distances);

// DFL: cross-entropy towards the two bins around each continuous target, weighted by
// closeness. pred_logits [n, 4, reg_max] (or [n·4, reg_max]), targets [n, 4] → [n, 1].
torch::Tensor distribution_focal_loss(const torch::Tensor& pred_logits, const torch::Tensor& targets);

}  // namespace vision::train
