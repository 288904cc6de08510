// SyncBatchNorm for data-parallel training: in training mode BatchNorm normalises with the
// statistics of the global batch (all ranks), so 2 ranks x 8 images train as 1 x 16 and the
// running statistics stay identical on every rank. Private to src/train.
#pragma once

#include <ATen/core/Tensor.h>

#include "distributed_group.hpp"

namespace torch::nn {
class BatchNorm2dImpl;
class Module;
}  // namespace torch::nn

namespace vision::train {

// bn's training-mode forward over the ranks of `group`: the per-channel sum, sum of squares and
// count all-reduced in forward, the two per-channel gradient sums in backward (the weight and
// bias gradients stay local: GradientReducer averages them). In eval mode bn's own forward.
at::Tensor sync_batch_norm(DistributedGroup& group, torch::nn::BatchNorm2dImpl& bn,
                           const at::Tensor& input);

// Every ConvBnSilu of `model` normalised with sync_batch_norm over `group`, which must outlive
// the model's training.
void synchronise_batch_norm(torch::nn::Module& model, DistributedGroup& group);

}  // namespace vision::train
