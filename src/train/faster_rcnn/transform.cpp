// The Faster R-CNN input transform: normalise, resize to min_size/max_size, pad to 32; box scaling.
#include "vision/train/faster_rcnn/transform.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace vision::train::faster_rcnn {

namespace {
namespace F = torch::nn::functional;

// torchvision's builder defaults, whose ratio img_size keeps.
constexpr int64_t k_torchvision_min_size = 800;
constexpr int64_t k_torchvision_max_size = 1333;

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }
}  // namespace

TransformOptions transform_options_for_img_size(int64_t img_size) {
  TransformOptions options;
  options.min_size = img_size;
  options.max_size = (img_size * k_torchvision_max_size + k_torchvision_min_size / 2) / k_torchvision_min_size;
  return options;
}

torch::Tensor normalize_image(const torch::Tensor& image, const TransformOptions& options) {
  TORCH_CHECK(image.dim() == 3 && image.is_floating_point(), "expected a float [C,H,W] image in [0,1], got ",
              image.sizes(), " ", image.dtype());
  const auto per_channel = [&](const std::array<double, 3>& values) {
    return torch::tensor(std::vector<double>(values.begin(), values.end()), image.options()).view({-1, 1, 1});
  };
  return (image - per_channel(options.image_mean)) / per_channel(options.image_std);
}

std::array<int64_t, 2> resized_size(std::array<int64_t, 2> size, const TransformOptions& options) {
  const auto [short_side, long_side] = std::minmax(size[0], size[1]);
  // Doubles and a floor, as Python's division and interpolate's recompute_scale_factor do.
  const double scale = std::min(static_cast<double>(options.min_size) / static_cast<double>(short_side),
                                static_cast<double>(options.max_size) / static_cast<double>(long_side));
  return {static_cast<int64_t>(std::floor(static_cast<double>(size[0]) * scale)),
          static_cast<int64_t>(std::floor(static_cast<double>(size[1]) * scale))};
}

torch::Tensor resize_image(const torch::Tensor& image, const TransformOptions& options) {
  const auto [h, w] = resized_size({image.size(-2), image.size(-1)}, options);
  return F::interpolate(image.unsqueeze(0), F::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{h, w})
                                                .mode(torch::kBilinear)
                                                .align_corners(false))
      .squeeze(0);
}

ImageBatch batch_images(const std::vector<torch::Tensor>& images, const TransformOptions& options) {
  TORCH_CHECK(!images.empty(), "an image batch needs at least one image");
  ImageBatch batch;
  int64_t height = 0, width = 0;
  for (const auto& image : images) {
    batch.sizes.push_back({image.size(-2), image.size(-1)});
    height = std::max(height, image.size(-2));
    width = std::max(width, image.size(-1));
  }
  batch.tensors = torch::zeros({static_cast<int64_t>(images.size()), images[0].size(0),
                                round_up(height, options.size_divisible), round_up(width, options.size_divisible)},
                               images[0].options());
  for (size_t i = 0; i < images.size(); ++i) {
    batch.tensors[static_cast<int64_t>(i)]
        .slice(1, 0, batch.sizes[i][0])
        .slice(2, 0, batch.sizes[i][1])
        .copy_(images[i]);
  }
  return batch;
}

ImageBatch transform_images(const std::vector<torch::Tensor>& images, const TransformOptions& options) {
  std::vector<torch::Tensor> resized;
  resized.reserve(images.size());
  for (const auto& image : images) resized.push_back(resize_image(normalize_image(image, options), options));
  return batch_images(resized, options);
}

torch::Tensor resize_boxes(const torch::Tensor& boxes, std::array<int64_t, 2> from, std::array<int64_t, 2> to) {
  const float ratio_h = static_cast<float>(to[0]) / static_cast<float>(from[0]);
  const float ratio_w = static_cast<float>(to[1]) / static_cast<float>(from[1]);
  return boxes * torch::tensor({ratio_w, ratio_h, ratio_w, ratio_h}, boxes.options());
}

}  // namespace vision::train::faster_rcnn
