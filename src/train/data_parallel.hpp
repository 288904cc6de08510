// The data-parallel side of a training loop, the same for every backend: joining the group,
// starting every rank from rank 0's weights, averaging gradients in backward, agreeing on each
// step, and rank 0 alone validating and writing while the others wait. Alone (world size 1) each
// call does what one process does. Private to src/train.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "distributed_group.hpp"
#include "gradient_reducer.hpp"
#include "vision/core/error.hpp"
#include "vision/train/distributed.hpp"

namespace torch::nn {
class Module;
}

namespace vision::train {

class DataParallel {
 public:
  explicit DataParallel(const DataParallelOptions& options) : m_options(options) {}

  bool active() const { return m_group != nullptr; }
  // Rank 0 (or the one process) validates, writes checkpoints and results, and exports.
  bool writes() const { return m_options.settings.rank == 0; }
  int rank() const { return m_options.settings.rank; }
  int world_size() const { return m_options.settings.world_size; }
  // Only while active().
  DistributedGroup& group() { return *m_group; }

  // Rendezvous with the other ranks (a port in use, an unreachable master or a rank that never
  // comes ends the run within the timeout); nothing for one process.
  Expected<void> join(c10::Device device);

  // Every rank starts from rank 0's weights (new, imported or resumed); on the first call the
  // gradient reducer is set up over the trained parameters, with BatchNorm over the global
  // batch when sync_bn (the YOLO model's ConvBnSilu blocks; a backend without them checks first).
  Expected<void> share(torch::nn::Module& model);

  // loss.backward(), with the gradients averaged over the ranks in a data-parallel training.
  Expected<void> backward(const at::Tensor& loss);

  // After a step: `values` (the rank's loss terms) replaced by their mean over the ranks, and
  // true when some rank was interrupted, so all stop after the same step. Alone: false.
  Expected<bool> agree_on_step(std::span<double> values, bool interrupted);

  // After an epoch the other ranks log that they wait, then wait while rank 0 validates and
  // saves (the wait covers a validation: the timeout plus three times the epoch's training
  // time), then learn whether it stops early. Alone, `stop` as it is.
  Expected<bool> rank0_decides(bool stop, int epoch, double epoch_seconds);

  // The time the blocking all-reduces have waited so far; zero alone.
  std::chrono::nanoseconds all_reduce_wait() const;

  // Per step of an epoch: the wait in blocking all-reduces and the backward whose bucketed
  // gradient all-reduce overlaps it (scripts/bench-dist).
  void log_communication(std::chrono::nanoseconds waited, double backward_seconds, std::int64_t steps) const;

  // At the end of a data-parallel training every rank logs a checksum of its trained parameters
  // (train.distributed.weights): equal on every rank when the gradients were averaged.
  void log_weights_checksum(torch::nn::Module& model) const;

 private:
  DataParallelOptions m_options;
  std::unique_ptr<DistributedGroup> m_group;  // null: one process
  std::unique_ptr<GradientReducer> m_reducer;
};

// The epochs [first, epochs) of either backend's loop. `train_epoch(epoch)` gives
// Expected<std::optional<Epoch>>, nullopt when interrupted (the loop ends at once, false); then
// rank 0 (or the one process) calls `validate(result)`, which saves and gives true to stop early,
// while the other ranks record the epoch in `report`; rank 0's decision ends every rank. True
// when the loop ran to its end or stopped early.
template <typename Report, typename TrainEpoch, typename Validate>
Expected<bool> run_epochs(DataParallel& parallel, int first, int epochs, Report& report, TrainEpoch&& train_epoch,
                          Validate&& validate) {
  for (int epoch = first; epoch < epochs; ++epoch) {
    auto trained = train_epoch(epoch);
    if (!trained) return std::unexpected(trained.error());
    if (!*trained) return false;
    auto& result = **trained;
    bool stop = false;
    if (parallel.writes()) {
      auto stops = validate(result);
      if (!stops) return std::unexpected(stops.error());
      stop = *stops;
    } else {
      report.epochs.push_back(result);
      report.epochs_trained = result.epoch;
    }
    auto stopping = parallel.rank0_decides(stop, result.epoch, result.train_seconds);
    if (!stopping) return std::unexpected(stopping.error());
    if (*stopping) break;
  }
  return true;
}

}  // namespace vision::train
