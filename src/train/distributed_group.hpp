// The process group of a data-parallel training: c10d's TCPStore (hosted by rank 0) for the
// rendezvous and ProcessGroupGloo for the collectives. Every failure, including a peer that
// died or hangs past the timeout, comes back as a vision::Error. Private to src/train.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <memory>
#include <vector>

#include "vision/core/error.hpp"
#include "vision/train/distributed.hpp"

namespace c10d {
class ProcessGroup;
}

namespace torch::nn {
class Module;
}

namespace vision::train {

class DistributedGroup {
 public:
  // Blocks until all settings.world_size ranks joined or `timeout` passed. Rank 0 listens on
  // master_port; the others connect to it, retrying until the timeout. Errors: the port is in use,
  // the master is unreachable, a peer never came.
  static Expected<std::unique_ptr<DistributedGroup>> connect(const DistributedSettings& settings,
                                                             std::chrono::milliseconds timeout);
  ~DistributedGroup();
  DistributedGroup(const DistributedGroup&) = delete;
  DistributedGroup& operator=(const DistributedGroup&) = delete;

  int rank() const;
  int world_size() const;
  std::chrono::milliseconds timeout() const;

  // Waits for every rank. `timeout` overrides the group's, e.g. around rank 0's validation.
  Expected<void> barrier(std::optional<std::chrono::milliseconds> timeout = {});
  // Replaces `tensor` (in place) by its mean over the ranks, e.g. a loss for the log.
  Expected<void> all_reduce_mean(at::Tensor& tensor);
  // The time all_reduce_mean calls have waited so far (the per-step cost a benchmark reports).
  std::chrono::nanoseconds all_reduce_wait() const;
  // Rank 0's parameters and buffers copied into every rank's `module` (same architecture):
  // the initial weights or a resumed state.
  Expected<void> broadcast_from_rank0(torch::nn::Module& module);

  // For GradientReducer: the c10d group it reduces over.
  const c10::intrusive_ptr<c10d::ProcessGroup>& backend() const;

 private:
  struct Impl;
  explicit DistributedGroup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

// The c10 or std exception being handled as a vision::Error; `operation` says what failed
// ("all-reduce", "connecting to the master at host:port"). Call inside a catch block only.
Error distributed_error(const std::string& operation, std::chrono::milliseconds timeout);

}  // namespace vision::train
