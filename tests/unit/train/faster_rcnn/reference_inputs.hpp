// The deterministic inputs of bench/faster_rcnn/head_reference.py, so tests can compare with
// the torchvision figures it printed.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>

namespace vision::train::faster_rcnn::testing {

// feature(): sin(0.37 · i) · 10 over the flattened [1, C, H, W].
inline torch::Tensor reference_feature(int64_t channels, int64_t height, int64_t width) {
  return (torch::sin(torch::arange(channels * height * width, torch::kFloat) * 0.37) * 10)
      .reshape({1, channels, height, width});
}

// fill_parameters(): sin(0.7 · i + offset) times 0.5 / √fan_in (weights) or 0.1 (biases), offset
// the sum of the parameter name's character codes mod 100.
inline void fill_parameters(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters()) {
    const auto& name = p.key();
    const int offset =
        std::accumulate(name.begin(), name.end(), 0, [](int sum, char c) { return sum + c; }) % 100;
    auto& value = p.value();
    const double scale = value.dim() == 1
                             ? 0.1
                             : 0.5 / std::sqrt(static_cast<double>(value.numel() / value.size(0)));
    value.copy_((torch::sin(torch::arange(value.numel(), torch::kFloat) * 0.7 + offset) * scale)
                    .reshape(value.sizes()));
  }
}

}  // namespace vision::train::faster_rcnn::testing
