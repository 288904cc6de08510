// Channels-last models and batches for the CPU training step (step_format.hpp).
#include "step_format.hpp"

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

std::vector<torch::Tensor> forward_maps(YoloDetectorImpl& model, const torch::Tensor& images, bool channels_last) {
  return model.forward(channels_last ? images.contiguous(torch::MemoryFormat::ChannelsLast) : images);
}

}  // namespace vision::train
