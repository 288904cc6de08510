// Training batches built ahead of the model on worker threads and handed over in order, so an
// epoch's batches are the same whatever the number of workers: the order of an epoch and each
// sample's augmentation depend only on (seed, epoch, data-set index). Private to src/train.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "augment.hpp"
#include "detection_loss.hpp"
#include "vision/core/error.hpp"
#include "vision/data/yolo_dataset.hpp"

namespace vision::train {

struct LoaderOptions {
  int img_size = 640;
  int batch_size = 16;  // a data-parallel rank's share of the global batch
  // A data-parallel rank reads its shard (shard_for_rank) of each epoch's order.
  int rank = 0;
  int world_size = 1;
  int workers = 2;  // 0: batches are built on the thread that calls next()
  std::uint64_t seed = 0;
  bool shuffle = true;
  bool augment = true;  // false: letterbox only
  AugmentOptions augment_options;
};

struct Batch {
  torch::Tensor images;            // float32 [B, 3, S, S], RGB, 0..1, contiguous
  BatchTargets targets;            // image_index, classes, boxes (cx, cy, w, h normalised to S)
  std::vector<std::size_t> items;  // data-set indices in this batch
};

// An epoch's order of `count` items: 0..count-1 shuffled by (seed, epoch), the same on every
// standard library and on every rank of a distributed training.
std::vector<std::size_t> epoch_order(std::size_t count, std::uint64_t seed, int epoch);

// Decoded images are kept in memory after their first load when the whole set fits
// k_cache_budget_bytes at img_size (the trainer reads every image every epoch). Constructing a
// loader turns OpenCV's own thread pool off (cv::setNumThreads(0), as Ultralytics does): the
// workers are the parallelism, and OpenCV's pool would fight LibTorch's threads.
class BatchLoader {
 public:
  static constexpr std::uint64_t k_cache_budget_bytes = 1ULL << 30;

  BatchLoader(std::vector<DatasetItem> items, LoaderOptions options);
  ~BatchLoader();  // stops and joins the workers promptly, even mid-epoch
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // ceil(n / batch_size), n the rank's shard; the last batch may be short.
  std::int64_t batches_per_epoch() const;
  // Starts (or restarts) an epoch; batches of a previous epoch not yet taken are dropped.
  // `mosaic` false is Ultralytics' close_mosaic: letterbox + affine only.
  void start_epoch(int epoch, bool mosaic);
  // Blocks for the next batch of the epoch; nullopt after the last one. An unreadable image is
  // an error naming the file; the following batches can still be taken.
  Expected<std::optional<Batch>> next();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace vision::train
