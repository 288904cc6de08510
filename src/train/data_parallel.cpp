// Joining, sharing the weights, averaged backward and rank 0's decision for either backend's
// training loop (see data_parallel.hpp).
#include "data_parallel.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

#include "sync_batch_norm.hpp"
#include "vision/core/log.hpp"

namespace vision::train {

Expected<void> DataParallel::join(c10::Device device) {
  if (!m_options.settings.distributed()) return {};
  if (device != torch::kCPU) {
    return fail(ErrorCode::config, "data-parallel training runs on train.device = \"cpu\" (Gloo) in this build");
  }
  auto group = DistributedGroup::connect(m_options.settings, std::chrono::seconds(m_options.timeout_s));
  if (!group) return std::unexpected(group.error());
  m_group = std::move(*group);
  log::info("train.distributed",
            "rank " + std::to_string(m_group->rank()) + " of " + std::to_string(m_group->world_size()) + " joined",
            {{"rank", m_group->rank()}, {"world_size", m_group->world_size()},
             {"local_rank", m_options.settings.local_rank}, {"threads", at::get_num_threads()}});
  return {};
}

Expected<void> DataParallel::share(torch::nn::Module& model) {
  if (!active()) return {};
  if (auto ok = m_group->broadcast_from_rank0(model); !ok) return ok;
  if (m_reducer) return {};
  if (m_options.sync_bn) synchronise_batch_norm(model, *m_group);
  std::vector<torch::Tensor> trained;
  for (const auto& p : model.parameters()) {
    if (p.requires_grad()) trained.push_back(p);
  }
  auto reducer = GradientReducer::create(*m_group, std::move(trained));
  if (!reducer) return std::unexpected(reducer.error());
  m_reducer = std::move(*reducer);
  return {};
}

Expected<void> DataParallel::backward(const at::Tensor& loss) {
  if (!active()) {
    loss.backward();
    return {};
  }
  return m_reducer->backward(loss);
}

Expected<bool> DataParallel::agree_on_step(std::span<double> values, bool interrupted) {
  if (!active()) return false;
  std::vector<double> shared(values.begin(), values.end());
  shared.push_back(interrupted ? 1.0 : 0.0);
  auto stats = torch::tensor(shared, torch::kDouble);
  if (auto ok = m_group->all_reduce_mean(stats); !ok) return std::unexpected(ok.error());
  for (std::size_t k = 0; k < values.size(); ++k) values[k] = stats[static_cast<std::int64_t>(k)].item<double>();
  return stats[static_cast<std::int64_t>(values.size())].item<double>() > 0;
}

Expected<bool> DataParallel::rank0_decides(bool stop, int epoch, double epoch_seconds) {
  if (!active()) return stop;
  if (!writes()) {
    log::info("train.epoch", "rank " + std::to_string(rank()) + ": epoch " + std::to_string(epoch) +
                                 " trained, waiting for rank 0's validation",
              {{"rank", rank()}, {"epoch", epoch}, {"train_seconds", epoch_seconds}});
  }
  const auto wait = m_group->timeout() + std::chrono::milliseconds(static_cast<std::int64_t>(3000 * epoch_seconds));
  if (auto ok = m_group->barrier(wait); !ok) return std::unexpected(ok.error());
  auto flag = torch::full({1}, writes() && stop ? static_cast<double>(world_size()) : 0.0, torch::kDouble);
  if (auto ok = m_group->all_reduce_mean(flag); !ok) return std::unexpected(ok.error());
  return flag.item<double>() > 0.5;
}

std::chrono::nanoseconds DataParallel::all_reduce_wait() const {
  return active() ? m_group->all_reduce_wait() : std::chrono::nanoseconds{0};
}

void DataParallel::log_communication(std::chrono::nanoseconds waited, double backward_seconds, std::int64_t steps) const {
  if (!active() || steps <= 0) return;
  const double all_reduce_ms = std::chrono::duration<double, std::milli>(waited).count() / static_cast<double>(steps);
  const double backward_ms = 1000 * backward_seconds / static_cast<double>(steps);
  char line[160];
  std::snprintf(line, sizeof line, "rank %d: per step %.1f ms waiting in all-reduces, %.1f ms in backward with the gradient all-reduce",
                rank(), all_reduce_ms, backward_ms);
  log::info("train.distributed.step", line,
            {{"rank", rank()}, {"all_reduce_ms_per_step", all_reduce_ms}, {"backward_ms_per_step", backward_ms}});
}

void DataParallel::log_weights_checksum(torch::nn::Module& model) const {
  if (!active()) return;
  torch::NoGradGuard no_grad;
  double sum = 0;
  double absolute = 0;
  for (const auto& p : model.parameters()) {
    if (!p.requires_grad()) continue;
    const auto values = p.detach().to(torch::kDouble);
    sum += values.sum().item<double>();
    absolute += values.abs().sum().item<double>();
  }
  char line[160];
  std::snprintf(line, sizeof line, "rank %d: trained parameters sum %.17g, absolute sum %.17g", rank(), sum, absolute);
  log::info("train.distributed.weights", line, {{"rank", rank()}, {"parameter_sum", sum}, {"parameter_abs_sum", absolute}});
}

}  // namespace vision::train
