// The detection utilities both Faster R-CNN stages share, after torchvision.ops.boxes and
// torchvision/models/detection/_utils.py: box IoU, clipping, small-box removal, (batched) NMS,
// the box coder, the IoU matcher and the balanced positive/negative sampler. Boxes are
// [N, 4] x1 y1 x2 y2. Private to src/train.
#pragma once

#include <torch/types.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <utility>

namespace vision::train::faster_rcnn {

// [N, M] IoU of every box of `a` [N, 4] with every box of `b` [M, 4].
torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b);

// Clamps x to [0, width] and y to [0, height]; `size` is {h, w}.
torch::Tensor clip_boxes_to_image(const torch::Tensor& boxes, const std::array<int64_t, 2>& size);

// Indices (int64, ascending) of the boxes whose width and height are both >= min_size.
torch::Tensor remove_small_boxes(const torch::Tensor& boxes, double min_size);

// Greedy NMS: indices (int64) of the kept boxes, highest score first; a box is dropped when its
// IoU with a kept, higher-scoring box is > iou_threshold. Equal scores keep their input order.
torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold);

// NMS within each group of `groups` [N] (class or level), never across. Up to 1000 boxes by
// torchvision's offset trick: each group's boxes shift by group · (max coordinate + 1) so groups
// cannot overlap, and one NMS runs — the form ONNX's single NonMaxSuppression node exports.
// Above, one NMS per group, as torchvision does on the CPU. Indices highest score first.
torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores,
                          const torch::Tensor& groups, double iou_threshold);

// Encodes boxes as (dx, dy, dw, dh) offsets from reference boxes and back (R-CNN's
// parameterisation), each term multiplied by its weight. dw and dh are clamped at
// log(1000 / 16) before exp when decoding (torchvision's bbox_xform_clip).
class BoxCoder {
 public:
  explicit BoxCoder(std::array<double, 4> weights, double clip = std::log(1000.0 / 16));
  // targets [N, 4] of `boxes` [N, 4] relative to `references` [N, 4].
  torch::Tensor encode(const torch::Tensor& boxes, const torch::Tensor& references) const;
  // codes [N, 4·K] (K boxes per reference, e.g. one per class) → boxes [N, K, 4].
  torch::Tensor decode(const torch::Tensor& codes, const torch::Tensor& references) const;

 private:
  std::array<double, 4> m_weights;
  double m_clip;
};

// Assigns each prediction (column of an IoU matrix [M gt, N predictions]) the gt with the
// highest IoU, or k_below_low_threshold / k_between_thresholds. With low-quality matches
// allowed, every prediction that ties for a gt's best IoU keeps that match whatever its value.
class Matcher {
 public:
  static constexpr int64_t k_below_low_threshold = -1;
  static constexpr int64_t k_between_thresholds = -2;
  Matcher(double high_threshold, double low_threshold, bool allow_low_quality_matches);
  torch::Tensor operator()(const torch::Tensor& iou) const;  // [N] int64

 private:
  double m_high, m_low;
  bool m_allow_low_quality;
};

// Samples up to batch_size elements of one image from labels [N] (>= 1 positive, 0 negative,
// -1 ignored), at most batch_size · positive_fraction of them positive, the rest negative.
// The draw uses torch's default generator (torch::manual_seed makes it reproducible).
// Returns bool masks {positive, negative} [N].
std::pair<torch::Tensor, torch::Tensor> sample_balanced(const torch::Tensor& labels,
                                                        int64_t batch_size,
                                                        double positive_fraction);

}  // namespace vision::train::faster_rcnn
