// Channels-last models and bf16 autocast for the CPU training step (step_format.hpp).
#include "step_format.hpp"

#include <ATen/autocast_mode.h>
#include <ATen/cpu/Utils.h>
#include <torch/torch.h>

namespace vision::train {

void to_channels_last(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) {
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
  for (auto& b : model.buffers()) {
    if (b.dim() == 4) b.set_data(b.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

std::vector<torch::Tensor> forward_maps(YoloDetectorImpl& model, const torch::Tensor& images, const StepFormat& format) {
  std::vector<torch::Tensor> maps;
  {
    const Bf16Autocast autocast(format.bf16);
    maps = model.forward(format.channels_last ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images);
  }
  if (format.bf16) {
    for (auto& map : maps) map = map.to(torch::kFloat);
  }
  return maps;
}

bool cpu_has_bf16() { return at::cpu::is_avx512_bf16_supported() || at::cpu::is_amx_tile_supported(); }

PrecisionChoice choose_precision(std::string_view requested, bool on_cpu, bool cpu_bf16) {
  if (requested != "bf16") return {};
  if (!on_cpu) return {false, "train.yolo.precision = \"bf16\" applies to train.device = \"cpu\"; training in fp32"};
  if (!cpu_bf16) {
    return {false, "train.yolo.precision = \"bf16\": this CPU has neither AVX512-BF16 nor AMX, where bf16 is slower "
                   "than fp32; training in fp32"};
  }
  return {true, {}};
}

Bf16Autocast::Bf16Autocast(bool enabled) : m_enabled(enabled) {
  if (!m_enabled) return;
  m_was_enabled = at::autocast::is_autocast_enabled(at::kCPU);
  m_previous_dtype = at::autocast::get_autocast_dtype(at::kCPU);
  at::autocast::set_autocast_enabled(at::kCPU, true);
  at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
  at::autocast::increment_nesting();
}

Bf16Autocast::~Bf16Autocast() {
  if (!m_enabled) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(at::kCPU, m_was_enabled);
  at::autocast::set_autocast_dtype(at::kCPU, m_previous_dtype);
}

}  // namespace vision::train
