// The task-aligned assigner (TOOD / Ultralytics TaskAlignedAssigner): for each ground-truth
// box, the top-k anchors inside it by the alignment metric score^α · IoU^β become positives;
// an anchor claimed by several boxes keeps the one it overlaps most; positives get soft
// class targets scaled by their normalised alignment. Private to src/train.
#pragma once

#include <torch/types.h>

namespace vision::train {

struct AssignerOptions {
  int topk = 10;
  int num_classes = 80;
  double alpha = 0.5;
  double beta = 6.0;
  double eps = 1e-9;
};

struct Assignment {
  torch::Tensor target_labels;  // [b, A] int64
  torch::Tensor target_boxes;   // [b, A, 4] xyxy
  torch::Tensor target_scores;  // [b, A, nc]
  torch::Tensor foreground;     // [b, A] bool
  torch::Tensor target_gt;      // [b, A] int64: index of the assigned ground-truth box
};

// pred_scores [b, A, nc] (probabilities), pred_boxes [b, A, 4] xyxy, anchor_points [A, 2],
// gt_labels [b, n, 1], gt_boxes [b, n, 4] xyxy, gt_mask [b, n, 1] (0 for padding rows);
// boxes and points in the same units (pixels).
Assignment assign(const AssignerOptions& options, const torch::Tensor& pred_scores, const torch::Tensor& pred_boxes,
                  const torch::Tensor& anchor_points, const torch::Tensor& gt_labels, const torch::Tensor& gt_boxes,
                  const torch::Tensor& gt_mask);

}  // namespace vision::train
