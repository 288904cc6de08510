// Batches of the Faster R-CNN trainer in the epoch order every backend and rank shares.
#include "faster_rcnn_sample_loader.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <random>

#include "batch_loader.hpp"
#include "distributed_sampler.hpp"
#include "faster_rcnn_validation.hpp"

namespace vision::train {

namespace {

// Reads a batch's images and flips each with probability `fliplr`, from a generator seeded by
// the batch's place in the run, so the flips do not depend on which thread builds the batch.
Expected<FasterRcnnBatch> read_batch(const std::vector<DetectionSample>& samples, const std::vector<std::size_t>& order,
                                     std::size_t start, std::size_t count, double fliplr, std::uint64_t seed) {
  std::mt19937_64 random(seed);
  std::bernoulli_distribution flip(fliplr);
  FasterRcnnBatch batch;
  for (std::size_t i = start; i < std::min(order.size(), start + count); ++i) {
    const auto& sample = samples[order[i]];
    auto image = sample_image(sample);
    if (!image) return std::unexpected(image.error());
    std::vector<float> corners;
    for (const auto& box : sample.boxes) corners.insert(corners.end(), box.begin(), box.end());
    auto boxes = torch::tensor(corners, torch::kFloat32).reshape({static_cast<int64_t>(sample.boxes.size()), 4});
    auto classes = torch::tensor(std::vector<int64_t>(sample.class_ids.begin(), sample.class_ids.end()), torch::kInt64);
    if (flip(random)) {
      *image = image->flip({2}).contiguous();
      const auto width = static_cast<float>(sample.width);
      boxes = torch::stack({width - boxes.select(1, 2), boxes.select(1, 1), width - boxes.select(1, 0), boxes.select(1, 3)}, 1);
    }
    batch.images.push_back(std::move(*image));
    batch.targets.push_back({boxes, classes});
    batch.items.push_back(order[i]);
  }
  return batch;
}

}  // namespace

FasterRcnnSampleLoader::FasterRcnnSampleLoader(const std::vector<DetectionSample>& samples,
                                               const FasterRcnnLoaderOptions& options)
    : m_samples(samples), m_options(options) {}

std::int64_t FasterRcnnSampleLoader::batches_per_epoch() const {
  return batches_per_rank(m_samples.size(), m_options.batch_size, m_options.world_size);
}

void FasterRcnnSampleLoader::start_epoch(int epoch) {
  m_epoch = epoch;
  m_order = epoch_order(m_samples.size(), m_options.seed, epoch);
  if (m_options.world_size > 1) m_order = shard_for_rank(m_order, m_options.rank, m_options.world_size);
  m_next = 0;
  m_pending.reset();
}

Expected<std::optional<FasterRcnnBatch>> FasterRcnnSampleLoader::next() {
  if (m_next >= m_order.size()) return std::optional<FasterRcnnBatch>();
  auto batch = m_pending ? m_pending->get() : read(m_next);
  m_pending.reset();
  m_next += static_cast<std::size_t>(m_options.batch_size);
  if (m_options.prefetch && m_next < m_order.size()) {
    m_pending = std::async(std::launch::async, [this, at = m_next] { return read(at); });
  }
  if (!batch) return std::unexpected(batch.error());
  return std::optional<FasterRcnnBatch>(std::move(*batch));
}

Expected<FasterRcnnBatch> FasterRcnnSampleLoader::read(std::size_t start) const {
  const auto batch_size = static_cast<std::size_t>(m_options.batch_size);
  // The batch's slot in the global batch sequence (rank r of W takes slot b·W + r), so ranks
  // draw different flips and one process draws as before.
  const auto slot = static_cast<std::uint64_t>(start / batch_size) * static_cast<std::uint64_t>(m_options.world_size) +
                    static_cast<std::uint64_t>(m_options.rank);
  return read_batch(m_samples, m_order, start, batch_size, m_options.fliplr,
                    m_options.seed ^ (static_cast<std::uint64_t>(m_epoch) << 32U) ^ (slot * 0x9E3779B97F4A7C15ULL));
}

}  // namespace vision::train
