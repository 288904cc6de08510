// Synchronised BatchNorm as an autograd function: statistics and their gradients all-reduced
// through the group (the formulas of torch.nn.SyncBatchNorm).
#include "sync_batch_norm.hpp"

#include <torch/torch.h>

#include <cstdint>

#include "vision/core/error.hpp"
#include "vision/train/yolo_layers.hpp"

namespace vision::train {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// N, H and W: what a channel's statistics run over.
const std::vector<std::int64_t> k_channel_dims = {0, 2, 3};

at::Tensor channel_view(const at::Tensor& t) {
  return t.view({1, -1, 1, 1});
}

// The mean over the ranks of `stats`, in place; a failure (a peer died or hangs) ends the step.
void all_reduce_mean(DistributedGroup& group, at::Tensor& stats) {
  if (auto ok = group.all_reduce_mean(stats); !ok) throw VisionError(ok.error());
}

class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            const at::Tensor& bias, DistributedGroup* group,
                            torch::nn::BatchNorm2dImpl* bn) {
    const auto channels = input.size(1);
    const double local_count =
        static_cast<double>(input.numel() / std::max<std::int64_t>(channels, 1));
    // Means over the ranks of (sum, sum of squares, count): their ratios are the global ones.
    // Summed in double: E[x²] - E[x]² loses too much in float32.
    auto stats = torch::cat({input.sum(k_channel_dims, false, torch::kDouble),
                             (input * input).sum(k_channel_dims, false, torch::kDouble),
                             torch::full({1}, local_count, torch::kDouble)});
    all_reduce_mean(*group, stats);
    const auto count = stats[2 * channels];
    const auto mean = stats.slice(0, 0, channels) / count;
    const auto var = (stats.slice(0, channels, 2 * channels) / count - mean * mean).clamp_min(0);
    const double eps = bn->options.eps();
    const auto invstd = (var + eps).rsqrt().to(input.scalar_type());
    const auto mean_f = mean.to(input.scalar_type());
    const double total = count.item<double>() * group->world_size();
    const double momentum = bn->options.momentum().value_or(0.1);
    bn->running_mean.mul_(1 - momentum).add_(mean_f, momentum);
    bn->running_var.mul_(1 - momentum)
        .add_((var * (total / std::max(total - 1, 1.0))).to(input.scalar_type()), momentum);
    bn->num_batches_tracked.add_(1);
    ctx->save_for_backward({input, weight, mean_f, invstd});
    ctx->saved_data["total"] = total;
    // The group travels as an address: saved_data holds IValues, and the group outlives the step.
    ctx->saved_data["group"] = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(group));
    return (input - channel_view(mean_f)) * channel_view(invstd * weight) + channel_view(bias);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& input = saved[0];
    const auto& weight = saved[1];
    const auto& mean = saved[2];
    const auto& invstd = saved[3];
    const double total = ctx->saved_data["total"].toDouble();
    auto* group = reinterpret_cast<DistributedGroup*>(
        static_cast<std::intptr_t>(ctx->saved_data["group"].toInt()));
    const auto grad = grad_outputs[0].contiguous();
    const auto channels = input.size(1);
    const auto normalised = (input - channel_view(mean)) * channel_view(invstd);
    const auto sum_dy = grad.sum(k_channel_dims);
    const auto sum_dy_xhat = (grad * normalised).sum(k_channel_dims);
    auto sums = torch::cat({sum_dy, sum_dy_xhat}).to(torch::kDouble);
    all_reduce_mean(*group, sums);
    const double ranks = group->world_size();
    const auto mean_dy = (sums.slice(0, 0, channels) * ranks / total).to(input.scalar_type());
    const auto mean_dy_xhat =
        (sums.slice(0, channels, 2 * channels) * ranks / total).to(input.scalar_type());
    const auto grad_input =
        channel_view(weight * invstd) *
        (grad - channel_view(mean_dy) - normalised * channel_view(mean_dy_xhat));
    return {grad_input, sum_dy_xhat, sum_dy, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor sync_batch_norm(DistributedGroup& group, torch::nn::BatchNorm2dImpl& bn,
                           const at::Tensor& input) {
  if (!bn.is_training()) return bn.forward(input);
  return SyncBatchNormFunction::apply(input, bn.weight, bn.bias, &group, &bn);
}

void synchronise_batch_norm(torch::nn::Module& model, DistributedGroup& group) {
  for (const auto& module : model.modules()) {
    if (auto* conv = dynamic_cast<ConvBnSiluImpl*>(module.get())) {
      conv->batch_norm = [&group](torch::nn::BatchNorm2dImpl& bn, const at::Tensor& x) {
        return sync_batch_norm(group, bn, x);
      };
    }
  }
}

}  // namespace vision::train
