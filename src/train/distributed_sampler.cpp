// Each rank's share of an epoch's order and of the global batch (DistributedSampler's rules).
#include "distributed_sampler.hpp"

#include <format>

namespace vision::train {

std::vector<std::size_t> shard_for_rank(std::span<const std::size_t> epoch_order, int rank,
                                        int world_size) {
  const auto world = static_cast<std::size_t>(world_size);
  const std::size_t per_rank = shard_size(epoch_order.size(), world_size);
  std::vector<std::size_t> shard;
  shard.reserve(per_rank);
  if (epoch_order.empty()) return shard;
  for (std::size_t k = 0; k < per_rank; ++k) {
    // Positions past the end wrap to the start: the padding DistributedSampler appends.
    shard.push_back(epoch_order[(static_cast<std::size_t>(rank) + k * world) % epoch_order.size()]);
  }
  return shard;
}

std::size_t shard_size(std::size_t n, int world_size) {
  const auto world = static_cast<std::size_t>(world_size);
  return (n + world - 1) / world;
}

std::int64_t batches_per_rank(std::size_t n, int batch_size, int world_size) {
  const auto batch = static_cast<std::size_t>(batch_size);
  return static_cast<std::int64_t>((shard_size(n, world_size) + batch - 1) / batch);
}

Expected<int> per_rank_batch_size(int batch_size, int world_size) {
  if (batch_size < world_size || batch_size % world_size != 0) {
    return fail(
        ErrorCode::config,
        std::format("train.batch_size {} does not divide into {} ranks: the global batch is shared "
                    "equally, so use a multiple of {}",
                    batch_size, world_size, world_size));
  }
  return batch_size / world_size;
}

}  // namespace vision::train
