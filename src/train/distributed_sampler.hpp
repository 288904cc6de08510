// Each rank's share of an epoch, as torch's DistributedSampler deals it: the epoch's order
// (epoch_order, identical on every rank) padded to a multiple of the world size by repeating
// its start, rank r taking positions r, r + W, r + 2W, ... Private to src/train.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "vision/core/error.hpp"

namespace vision::train {

// Rank `rank`'s indices, ceil(n / world_size) of them; together the ranks cover every index
// once, plus the padding (fewer than world_size repeats).
std::vector<std::size_t> shard_for_rank(std::span<const std::size_t> epoch_order, int rank,
                                        int world_size);

// The length of each rank's shard of n indices, ceil(n / world_size) (shard_for_rank's count).
std::size_t shard_size(std::size_t n, int world_size);

// Batches of `batch_size` in each rank's shard of n indices: the loaders' epoch length.
std::int64_t batches_per_rank(std::size_t n, int batch_size, int world_size);

// The per-rank batch of a global train.batch_size, so a recipe means the same on 1 or N ranks;
// ErrorCode::config naming train.batch_size when it does not divide by the world size.
Expected<int> per_rank_batch_size(int batch_size, int world_size);

}  // namespace vision::train
