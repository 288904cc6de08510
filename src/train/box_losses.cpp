// CIoU, the DFL and the box ↔ distance conversions of the YOLOv8 loss.
#include "box_losses.hpp"

#include <torch/torch.h>

#include <numbers>

namespace vision::train {

torch::Tensor ciou(const torch::Tensor& box1, const torch::Tensor& box2, double eps) {
  auto b1 = box1.unbind(-1);
  auto b2 = box2.unbind(-1);
  const auto w1 = b1[2] - b1[0], h1 = b1[3] - b1[1] + eps;
  const auto w2 = b2[2] - b2[0], h2 = b2[3] - b2[1] + eps;
  const auto inter = (torch::minimum(b1[2], b2[2]) - torch::maximum(b1[0], b2[0])).clamp_min(0) *
                     (torch::minimum(b1[3], b2[3]) - torch::maximum(b1[1], b2[1])).clamp_min(0);
  const auto uni = w1 * h1 + w2 * h2 - inter + eps;
  const auto iou = inter / uni;
  const auto cw = torch::maximum(b1[2], b2[2]) - torch::minimum(b1[0], b2[0]);
  const auto ch = torch::maximum(b1[3], b2[3]) - torch::minimum(b1[1], b2[1]);
  const auto c2 = cw.pow(2) + ch.pow(2) + eps;
  const auto rho2 = ((b2[0] + b2[2] - b1[0] - b1[2]).pow(2) + (b2[1] + b2[3] - b1[1] - b1[3]).pow(2)) / 4;
  const auto v = (4 / (std::numbers::pi * std::numbers::pi)) * (torch::atan(w2 / h2) - torch::atan(w1 / h1)).pow(2);
  torch::Tensor alpha;
  {
    torch::NoGradGuard no_grad;
    alpha = v / (v - iou + (1 + eps));
  }
  return iou - (rho2 / c2 + v * alpha);
}

torch::Tensor box_to_distances(const torch::Tensor& anchor_points, const torch::Tensor& boxes, int reg_max) {
  auto xy = boxes.split(2, -1);
  return torch::cat({anchor_points - xy[0], xy[1] - anchor_points}, -1).clamp(0, reg_max - 1 - 0.01);
}

torch::Tensor distances_to_box(const torch::Tensor& anchor_points, const torch::Tensor& distances) {
  auto d = distances.split(2, -1);
  return torch::cat({anchor_points - d[0], anchor_points + d[1]}, -1);
}

torch::Tensor distribution_focal_loss(const torch::Tensor& pred_logits, const torch::Tensor& targets) {
  const auto reg_max = pred_logits.size(-1);
  const auto logits = pred_logits.reshape({-1, reg_max});
  const auto target = targets.reshape({-1});
  const auto left = target.to(torch::kLong);
  const auto right = (left + 1).clamp_max(reg_max - 1);
  const auto weight_left = right.to(target.scalar_type()) - target;
  const auto weight_right = 1 - weight_left;
  namespace F = torch::nn::functional;
  const auto options = F::CrossEntropyFuncOptions().reduction(torch::kNone);
  const auto loss = F::cross_entropy(logits, left, options) * weight_left + F::cross_entropy(logits, right, options) * weight_right;
  return loss.view(targets.sizes()).mean(-1, true);
}

}  // namespace vision::train
