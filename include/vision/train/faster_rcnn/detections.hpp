// What the Faster R-CNN heads take as ground truth and give back as detections, per image.
// Labels follow torchvision: 0 is the background class and object classes start at 1, so
// Vision's 0-based class id c is label c + 1 here (and a model for n classes has n + 1 outputs).
#pragma once

#include <torch/types.h>

namespace vision::train::faster_rcnn {

struct ImageTargets {
  torch::Tensor boxes;   // [M, 4] float, x1 y1 x2 y2 in the resized image's pixels
  torch::Tensor labels;  // [M] int64, 1-based (Vision class id + 1)
};

struct ImageDetections {
  torch::Tensor boxes;   // [D, 4] float, x1 y1 x2 y2 in the resized image's pixels
  torch::Tensor labels;  // [D] int64, 1-based (Vision class id + 1)
  torch::Tensor scores;  // [D] float, highest first
};

}  // namespace vision::train::faster_rcnn
