// torchvision's GeneralizedRCNNTransform as a row of stages: normalise each image with ImageNet's
// mean and std, resize it (bilinear) so its short side is min_size unless the long side would
// pass max_size, pad the batch to a multiple of 32; boxes follow each image's scale there and back.
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <vector>

#include "vision/train/faster_rcnn/features.hpp"

namespace vision::train::faster_rcnn {

struct TransformOptions {
  int64_t min_size = 800;  // torchvision's FasterRCNN defaults
  int64_t max_size = 1333;
  std::array<double, 3> image_mean = {0.485, 0.456, 0.406};
  std::array<double, 3> image_std = {0.229, 0.224, 0.225};
  int64_t size_divisible = 32;
};

// Options for `train.img_size`: min_size = img_size and max_size = img_size·1333/800, rounded.
// torchvision pairs 800 with 1333; keeping that ratio keeps which image shapes reach the short
// side target (aspect ratios up to 1.67:1, so 4:3 and 16:9 frames) at any size, and
// img_size = 800 gives torchvision's defaults exactly. The short side is the one to set, as
// img_size sets YOLO's training resolution; a long-side cap of img_size instead would shrink
// every non-square image below the resolution asked for.
TransformOptions transform_options_for_img_size(int64_t img_size);

// (image − mean) / std per channel; `image` is float [3,H,W] in [0,1].
torch::Tensor normalize_image(const torch::Tensor& image, const TransformOptions& options);

// The size {h, w} an image of `size` is resized to: scale = min(min_size / short side,
// max_size / long side), each side floor(side·scale), as torchvision's interpolate computes it.
std::array<int64_t, 2> resized_size(std::array<int64_t, 2> size, const TransformOptions& options);

// Bilinear (align_corners false) resize of a [C,H,W] image to resized_size.
torch::Tensor resize_image(const torch::Tensor& image, const TransformOptions& options);

// Zero-pads every [C,h,w] image to the batch's largest h and w, each rounded up to a multiple of
// size_divisible, image at the top left; `sizes` keeps each image's own {h, w}.
ImageBatch batch_images(const std::vector<torch::Tensor>& images, const TransformOptions& options);

// normalize_image, resize_image and batch_images over a list of float [3,H,W] images in [0,1].
ImageBatch transform_images(const std::vector<torch::Tensor>& images, const TransformOptions& options);

// Boxes [N,4] (x1, y1, x2, y2) of an image of size `from` scaled to size `to` ({h, w}), the
// ratios taken in float32 as torchvision does: targets go in with (original, resized) and
// detections come back with (resized, original).
torch::Tensor resize_boxes(const torch::Tensor& boxes, std::array<int64_t, 2> from, std::array<int64_t, 2> to);

}  // namespace vision::train::faster_rcnn
