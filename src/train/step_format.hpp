// How a training step lays out and computes its tensors on the CPU: channels-last weights and
// batches for oneDNN, and bf16 autocast of the forward pass (train.yolo.precision). Private to
// src/train.
#pragma once

#include <torch/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "vision/train/yolo_layers.hpp"

namespace vision::train {

struct StepFormat {
  bool channels_last = false;  // the model was given to_channels_last
  bool bf16 = false;           // the forward pass under bf16 autocast
};

// Every 4-D parameter and buffer of `model` in channels-last (NHWC) memory, in place (the
// tensors keep their identity, so an optimiser built on them stays valid). oneDNN's
// convolutions then read and write NHWC directly instead of reordering to their blocked layout
// and back around every call.
void to_channels_last(torch::nn::Module& model);

// The model's raw maps for a batch of images: the images in the model's layout, the forward
// pass under bf16 autocast when asked; the maps come back in FP32 either way, for the loss.
std::vector<torch::Tensor> forward_maps(YoloDetectorImpl& model, const torch::Tensor& images, const StepFormat& format);

// True when the CPU computes bf16 natively (AVX512-BF16 or AMX); elsewhere oneDNN emulates it,
// slower than FP32.
bool cpu_has_bf16();

struct PrecisionChoice {
  bool bf16 = false;
  std::string fallback;  // why "bf16" was asked for and FP32 is used; empty otherwise
};

// train.yolo.precision ("fp32" or "bf16") on this device and CPU: bf16 on a CPU that computes
// it natively, FP32 with the reason otherwise.
PrecisionChoice choose_precision(std::string_view requested, bool on_cpu, bool cpu_bf16);

// While alive, CPU operators on this thread run under autocast to bf16 (convolutions and
// matrix products in bf16, the rest as LibTorch's autocast lists say); leaving restores the
// previous state and clears autocast's cache of bf16 weights, which the next optimiser step
// makes stale. Disabled: does nothing.
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool enabled);
  ~Bf16Autocast();
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool m_enabled;
  bool m_was_enabled = false;
  at::ScalarType m_previous_dtype = at::kBFloat16;
};

}  // namespace vision::train
