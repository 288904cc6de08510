// The EMA of the model's weights and BatchNorm statistics, with Ultralytics' ramped decay.
#include "model_ema.hpp"

#include <torch/torch.h>

#include <cmath>

namespace vision::train {

namespace {

// Parameters and buffers by name, in the same order for two models of one architecture.
std::vector<torch::Tensor> state(YoloDetectorImpl& model) {
  std::vector<torch::Tensor> tensors;
  for (const auto& p : model.named_parameters(true)) tensors.push_back(p.value());
  for (const auto& b : model.named_buffers(true)) tensors.push_back(b.value());
  return tensors;
}

}  // namespace

ModelEma::ModelEma(YoloDetectorImpl& model, double decay, double tau, std::int64_t updates)
    : m_ema(model.options), m_decay(decay), m_tau(tau), m_updates(updates) {
  m_ema->to(model.parameters().front().device());
  copy_matching(*m_ema, model);
  m_ema->eval();
  for (auto& p : m_ema->parameters()) p.set_requires_grad(false);
}

void ModelEma::update(YoloDetectorImpl& model) {
  torch::NoGradGuard no_grad;
  ++m_updates;
  const double d = m_decay * (1 - std::exp(-static_cast<double>(m_updates) / m_tau));
  auto target = state(*m_ema);
  const auto source = state(model);
  for (size_t i = 0; i < target.size(); ++i) {
    if (!target[i].is_floating_point()) continue;  // BatchNorm's batch counter
    target[i].mul_(d).add_(source[i].detach(), 1 - d);
  }
}

}  // namespace vision::train
