// RoIAlign (bilinear taps computed with tensor ops, pooled by a small kernel with its own
// backward pass) and the FPN level rule of MultiScaleRoiAlign. Private to src/train.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace vision::train::faster_rcnn {

// RoIAlign with aligned = false (torchvision's legacy mode, ONNX RoiAlign's mode "avg" with
// coordinate_transformation_mode "output_half_pixel"): input [N, C, H, W], rois [K, 5]
// (batch index, x1 y1 x2 y2 in image pixels) → [K, C, output_height, output_width]. Each bin
// averages sampling_ratio² bilinear samples (sampling_ratio > 0); a RoI is at least 1 × 1 map
// cells, and samples more than one cell outside the map count as 0.
torch::Tensor roi_align(const torch::Tensor& input, const torch::Tensor& rois, double spatial_scale,
                        int64_t output_height, int64_t output_width, int64_t sampling_ratio);

// The FPN level index of each box [K, 4] relative to k_min: floor(4 + log2(√area / 224) + 1e-6)
// clamped to [k_min, k_max], minus k_min. int64 [K].
torch::Tensor map_levels(const torch::Tensor& boxes, int64_t k_min, int64_t k_max);

// A map's scale against the largest image height: map height / image height rounded to the
// nearest power of two (torchvision's _infer_scale reads the height only).
double infer_scale(int64_t map_height, int64_t image_height);

}  // namespace vision::train::faster_rcnn
