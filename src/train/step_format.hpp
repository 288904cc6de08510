// How a training step lays out its tensors on the CPU: channels-last weights and batches for
// oneDNN. Private to src/train.
#pragma once

#include <torch/types.h>

#include <vector>

#include "vision/train/yolo_layers.hpp"

namespace vision::train {

// Every 4-D parameter and buffer of `model` in channels-last (NHWC) memory, in place (the
// tensors keep their identity, so an optimiser built on them stays valid). oneDNN's
// convolutions then read and write NHWC directly instead of reordering to their blocked layout
// and back around every call.
void to_channels_last(torch::nn::Module& model);

// The model's raw maps for a batch of images, given in the model's layout (channels-last when
// `channels_last`).
std::vector<torch::Tensor> forward_maps(YoloDetectorImpl& model, const torch::Tensor& images, bool channels_last);

}  // namespace vision::train
