// Ultralytics' optimiser choice, parameter groups, warm-up and learning-rate schedule.
#include "optimizer.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace vision::train {

namespace {

double interpolate(double x, double x0, double x1, double y0, double y1) {
  if (x <= x0) return y0;
  if (x >= x1) return y1;
  return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
}

}  // namespace

OptimizerChoice choose_optimizer(const OptimizerOptions& o, std::int64_t dataset_size, int batch_size, int epochs) {
  OptimizerChoice choice;
  choice.name = o.name;
  choice.lr0 = o.lr0;
  choice.momentum = o.momentum;
  choice.warmup_bias_lr = o.warmup_bias_lr;
  choice.nbs = o.nbs;
  if (o.name == "auto") {
    const auto per_epoch = (std::max<std::int64_t>(dataset_size, 1) + std::max(batch_size, o.nbs) - 1) / std::max(batch_size, o.nbs);
    const auto iterations = per_epoch * epochs;
    if (iterations > 10000) {
      choice.name = "SGD";
      choice.lr0 = 0.01;
    } else {
      choice.name = "AdamW";
      choice.lr0 = std::round(0.002 * 5 / (4 + o.num_classes) * 1e6) / 1e6;
      choice.warmup_bias_lr = 0.0;  // a high bias rate destabilises Adam
      choice.nbs = batch_size;
    }
    choice.momentum = 0.9;
  }
  choice.accumulate = std::max(static_cast<int>(std::lround(static_cast<double>(choice.nbs) / batch_size)), 1);
  choice.weight_decay = o.weight_decay * batch_size * choice.accumulate / choice.nbs;
  return choice;
}

TrainSchedule::TrainSchedule(torch::nn::Module& model, const OptimizerOptions& options, const OptimizerChoice& choice,
                             int batch_size, int epochs, std::int64_t batches_per_epoch)
    : m_options(options), m_choice(choice), m_epochs(epochs), m_batch_size(batch_size) {
  std::vector<torch::Tensor> biases, weights, norms;
  for (const auto& item : model.named_parameters(true)) {
    const auto& p = item.value();
    if (!p.requires_grad()) continue;  // the fixed DFL projection
    const auto& name = item.key();
    if (name.ends_with(".bias")) {
      biases.push_back(p);
    } else if (name.find(".bn.") != std::string::npos) {
      norms.push_back(p);
    } else {
      weights.push_back(p);
    }
  }
  if (choice.name == "SGD") {
    const auto make = [&](double decay) {
      return std::make_unique<torch::optim::SGDOptions>(
          torch::optim::SGDOptions(choice.lr0).momentum(choice.momentum).nesterov(true).weight_decay(decay));
    };
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(biases, make(0.0));
    groups.emplace_back(weights, make(choice.weight_decay));
    groups.emplace_back(norms, make(0.0));
    m_optimizer = std::make_unique<torch::optim::SGD>(std::move(groups), torch::optim::SGDOptions(choice.lr0));
  } else {
    const auto make = [&](double decay) {
      return std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(choice.lr0).betas({choice.momentum, 0.999}).weight_decay(decay));
    };
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(biases, make(0.0));
    groups.emplace_back(weights, make(choice.weight_decay));
    groups.emplace_back(norms, make(0.0));
    m_optimizer = std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(choice.lr0));
  }
  m_warmup_iterations =
      options.warmup_epochs > 0
          ? std::max<std::int64_t>(std::llround(options.warmup_epochs * static_cast<double>(batches_per_epoch)), 100)
          : -1;
}

double TrainSchedule::epoch_factor(int epoch) const {
  const double x = static_cast<double>(epoch) / m_epochs;
  if (m_options.cos_lr) return ((1 - std::cos(x * std::numbers::pi)) / 2) * (m_options.lrf - 1) + 1;
  return (1 - x) * (1.0 - m_options.lrf) + m_options.lrf;
}

void TrainSchedule::set_group(size_t group, double lr, double momentum) {
  auto& options = m_optimizer->param_groups()[group].options();
  options.set_lr(lr);
  if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&options)) sgd->momentum(momentum);
}

int TrainSchedule::begin_iteration(std::int64_t ni, int epoch) {
  const double target = m_choice.lr0 * epoch_factor(epoch);
  if (ni > m_warmup_iterations) {
    for (size_t g = 0; g < 3; ++g) set_group(g, target, m_choice.momentum);
    return m_choice.accumulate;
  }
  const auto x = static_cast<double>(ni), end = static_cast<double>(m_warmup_iterations);
  const double momentum = interpolate(x, 0, end, m_options.warmup_momentum, m_choice.momentum);
  for (size_t g = 0; g < 3; ++g) set_group(g, interpolate(x, 0, end, g == 0 ? m_choice.warmup_bias_lr : 0.0, target), momentum);
  const double nominal = static_cast<double>(m_choice.nbs) / m_batch_size;
  return std::max(1, static_cast<int>(std::lround(interpolate(x, 0, end, 1.0, nominal))));
}

std::array<double, 3> TrainSchedule::learning_rates() const {
  std::array<double, 3> rates{};
  for (size_t g = 0; g < 3; ++g) rates[g] = m_optimizer->param_groups()[g].options().get_lr();
  return rates;
}

}  // namespace vision::train
