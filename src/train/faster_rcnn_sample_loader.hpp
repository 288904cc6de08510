// The Faster R-CNN trainer's batches: the training split in the yolo backend's epoch order
// (epoch_order), a data-parallel rank reading its shard of it (shard_for_rank), each image
// flipped with probability fliplr. Private to src/train.
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <future>
#include <optional>
#include <vector>

#include "vision/core/error.hpp"
#include "vision/data/detection_samples.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"

namespace vision::train {

// One batch as the model takes it: images [3, H, W] in [0, 1] and their boxes; `items` are the
// samples' indices in the split.
struct FasterRcnnBatch {
  std::vector<torch::Tensor> images;
  std::vector<faster_rcnn::ImageBoxes> targets;
  std::vector<std::size_t> items;
};

struct FasterRcnnLoaderOptions {
  int batch_size = 2;  // a data-parallel rank's share of the global batch
  int rank = 0;
  int world_size = 1;
  double fliplr = 0.5;
  std::uint64_t seed = 0;
  bool prefetch = false;  // read the next batch on a worker while the current one trains
};

class FasterRcnnSampleLoader {
 public:
  // `samples` must outlive the loader.
  FasterRcnnSampleLoader(const std::vector<DetectionSample>& samples, const FasterRcnnLoaderOptions& options);

  // ceil(n / batch_size), n the rank's shard: the global batches of an epoch on every rank.
  std::int64_t batches_per_epoch() const;
  void start_epoch(int epoch);
  // nullopt after the epoch's last batch.
  Expected<std::optional<FasterRcnnBatch>> next();

 private:
  Expected<FasterRcnnBatch> read(std::size_t start) const;

  const std::vector<DetectionSample>& m_samples;
  FasterRcnnLoaderOptions m_options;
  int m_epoch = 0;
  std::vector<std::size_t> m_order;  // the rank's samples of the epoch, in order
  std::size_t m_next = 0;
  std::optional<std::future<Expected<FasterRcnnBatch>>> m_pending;
};

}  // namespace vision::train
