// The YOLOv8 detection loss (Ultralytics v8DetectionLoss): the task-aligned assigner picks
// positives; BCE on all class logits against the soft targets; CIoU and DFL on the positives;
// each normalised by the sum of the target scores and weighted by the gains box 7.5, cls 0.5,
// dfl 1.5. Private to src/train.
#pragma once

#include <torch/types.h>

#include <functional>
#include <vector>

#include "assigner.hpp"

namespace vision::train {

struct LossGains {
  double box = 7.5;
  double cls = 0.5;
  double dfl = 1.5;
};

// The labels of a batch in YOLO form: one row per box.
struct BatchTargets {
  torch::Tensor image_index;  // [M] int64, which image of the batch
  torch::Tensor classes;      // [M] int64
  torch::Tensor boxes;        // [M, 4] cx, cy, w, h normalised to the image
};

// The loss of one rank of a data-parallel training, normalised so that the mean over the ranks
// (what GradientReducer averages) equals one process's loss over the global batch: the target
// score sum summed over the ranks and the scale world_size x the global batch's size
// (docs/train.md).
struct LossScope {
  std::function<double(double)> sum_over_ranks;  // empty: one process
  double batch_scale = 0;                         // world_size x the global batch's size
};

struct LossResult {
  torch::Tensor total;  // scalar to back-propagate: (box + cls + dfl) · batch size
  double box = 0, cls = 0, dfl = 0;
};

// `raw` are the head's maps per stride ([B, 4·reg_max + nc, H, W]).
LossResult detection_loss(const std::vector<torch::Tensor>& raw, const BatchTargets& targets, int num_classes,
                          int reg_max, const std::vector<double>& strides, const AssignerOptions& assigner,
                          const LossGains& gains = {}, const LossScope& scope = {});

}  // namespace vision::train
