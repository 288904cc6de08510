// Gradients averaged over the ranks while backward runs, with LibTorch's own c10d::Reducer
// (what DistributedDataParallel uses): parameters in ~25 MB buckets, each bucket's all-reduce
// started as soon as its last gradient is ready, all awaited before backward returns.
// Private to src/train.
//
// The result is the mean over ranks of each rank's gradient. With a loss that is a mean over
// the rank's batch, 2 ranks x batch 8 give the gradient of 1 rank x batch 16. A loss scaled by
// the batch size (Ultralytics multiplies its detection loss by bs) must be scaled by the
// *global* batch (train.batch_size), not the rank's: mean over ranks of (global_bs x rank mean)
// = global_bs x global mean, the same as one rank's loss over the whole batch.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "distributed_group.hpp"

namespace c10d {
class Reducer;
}

namespace vision::train {

class GradientReducer {
 public:
  static constexpr std::int64_t k_bucket_bytes = 25LL << 20;  // DDP's bucket_cap_mb

  // `parameters`: those that receive a gradient every step (requires_grad true), in the
  // module's order, the same on every rank. Checks that all ranks hold the same shapes.
  static Expected<std::unique_ptr<GradientReducer>> create(
      DistributedGroup& group, std::vector<at::Tensor> parameters,
      std::int64_t bucket_bytes = k_bucket_bytes);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // loss.backward() with the gradients all-reduced; on return every parameter's .grad is the
  // mean over the ranks. A rank that died or hangs fails it within the group's timeout.
  Expected<void> backward(const at::Tensor& loss);

 private:
  GradientReducer(DistributedGroup& group, std::unique_ptr<c10d::Reducer> reducer);
  DistributedGroup& m_group;
  std::unique_ptr<c10d::Reducer> m_reducer;
};

}  // namespace vision::train
