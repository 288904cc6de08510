#include "batch_loader.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include <opencv2/core/utility.hpp>

#include "distributed_sampler.hpp"
#include "vision/image/letterbox.hpp"

namespace vision::train {

namespace {

// SplitMix64's finaliser: nearby (seed, epoch, index) triples give unrelated generator states.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::mt19937_64 rng_for(std::uint64_t seed, int epoch, std::uint64_t stream) {
  return std::mt19937_64(mix(mix(mix(seed) ^ static_cast<std::uint64_t>(epoch)) ^ stream));
}

// The epoch order's generator; per-sample generators use the data-set index, which never
// reaches this value.
constexpr std::uint64_t k_order_stream = ~0ULL;

struct EpochPlan {
  int epoch = 0;
  bool mosaic = false;
  std::vector<std::size_t> order;  // data-set indices in the order batches take them
  std::int64_t batches = 0;
};

// Samples as load_sample gives them, kept after the first load when enabled. Two workers may
// decode the same image at once: both get the same pixels and the first one stored stays.
class SampleCache {
 public:
  SampleCache(const std::vector<DatasetItem>& items, int img_size, bool enabled)
      : m_items(items), m_img_size(img_size), m_samples(enabled ? items.size() : 0) {}

  Expected<Sample> get(std::size_t index) {
    if (m_samples.empty()) return load_sample(m_items[index], m_img_size);
    {
      std::lock_guard lock(m_mutex);
      if (m_samples[index]) return *m_samples[index];
    }
    auto sample = load_sample(m_items[index], m_img_size);
    if (!sample) return sample;
    std::lock_guard lock(m_mutex);
    if (!m_samples[index]) m_samples[index] = *sample;
    return *m_samples[index];
  }

 private:
  const std::vector<DatasetItem>& m_items;
  const int m_img_size;
  std::mutex m_mutex;
  std::vector<std::optional<Sample>> m_samples;  // empty: caching is off
};

void check_options(const LoaderOptions& o) {
  // An odd size would make the mosaic's output one pixel off (2s − 2·⌊s/2⌋ ≠ s).
  if (o.img_size <= 0 || o.img_size % 2 != 0) {
    throw VisionError(ErrorCode::config,
                      "img_size must be a positive even number, got " + std::to_string(o.img_size));
  }
  if (o.batch_size <= 0) {
    throw VisionError(ErrorCode::config,
                      "batch size must be positive, got " + std::to_string(o.batch_size));
  }
  if (o.workers < 0) {
    throw VisionError(ErrorCode::config,
                      "workers must be 0 or more, got " + std::to_string(o.workers));
  }
}

}  // namespace

struct BatchLoader::Impl {
  Impl(std::vector<DatasetItem> items_in, const LoaderOptions& options_in)
      : items(std::move(items_in)),
        options(options_in),
        cache(items, options.img_size,
              items.size() * 3ULL * static_cast<std::uint64_t>(options.img_size) *
                      static_cast<std::uint64_t>(options.img_size) <=
                  k_cache_budget_bytes),
        // Two batches per worker, as PyTorch's DataLoader prefetches by default.
        prefetch(2 * static_cast<std::int64_t>(options.workers)) {}

  Expected<Batch> build(const EpochPlan& plan, std::int64_t b);
  // build() with third-party exceptions (OpenCV, LibTorch) turned into errors: a worker thread
  // must not let one escape.
  Expected<Batch> build_guarded(const EpochPlan& plan, std::int64_t b);
  void work();

  const std::vector<DatasetItem> items;
  const LoaderOptions options;
  SampleCache cache;
  const std::int64_t prefetch;

  std::mutex mutex;
  std::condition_variable work_ready;
  std::condition_variable batch_ready;
  std::shared_ptr<const EpochPlan> plan;  // null until the first start_epoch
  std::int64_t next_job = 0;              // the next batch a worker builds
  std::int64_t next_out = 0;              // the next batch next() hands out
  std::map<std::int64_t, Expected<Batch>> done;
  std::atomic<bool> stopping = false;
  std::vector<std::thread> workers;
};

Expected<Batch> BatchLoader::Impl::build(const EpochPlan& epoch, std::int64_t b) {
  const std::size_t n = items.size();
  const auto batch_size = static_cast<std::size_t>(options.batch_size);
  const std::size_t first = static_cast<std::size_t>(b) * batch_size;
  const std::size_t count = std::min(batch_size, epoch.order.size() - first);
  const int size = options.img_size;
  const float s = static_cast<float>(size);
  AugmentOptions augment = options.augment_options;
  augment.img_size = size;
  const auto load = [this](std::size_t index) { return cache.get(index); };

  Batch batch;
  batch.images = torch::empty({static_cast<std::int64_t>(count), 3, size, size}, torch::kFloat32);
  float* pixels = batch.images.data_ptr<float>();
  const std::size_t plane = 3ULL * static_cast<std::size_t>(size) * static_cast<std::size_t>(size);
  std::vector<std::int64_t> image_index;
  std::vector<std::int64_t> classes;
  std::vector<float> boxes;
  for (std::size_t k = 0; k < count; ++k) {
    if (stopping) return fail(ErrorCode::interrupted, "the batch loader is shutting down");
    const std::size_t index = epoch.order[first + k];
    auto rng = rng_for(options.seed, epoch.epoch, index);
    auto sample =
        options.augment
            ? augment_training_sample(index, n, epoch.mosaic, augment, rng, load)
            : load(index).transform([&](const Sample& x) { return letterbox_sample(x, size); });
    if (!sample) return std::unexpected(std::move(sample.error()));
    bgr_to_rgb_chw(sample->image, pixels + k * plane);
    for (const auto& box : sample->boxes) {
      // Clipped here too: the letterbox-only path keeps labels as written.
      const float x1 = std::clamp(box.x1, 0.0F, s), x2 = std::clamp(box.x2, 0.0F, s);
      const float y1 = std::clamp(box.y1, 0.0F, s), y2 = std::clamp(box.y2, 0.0F, s);
      if (x2 <= x1 || y2 <= y1) continue;
      image_index.push_back(static_cast<std::int64_t>(k));
      classes.push_back(box.class_id);
      boxes.insert(boxes.end(),
                   {(x1 + x2) / 2 / s, (y1 + y2) / 2 / s, (x2 - x1) / s, (y2 - y1) / s});
    }
    batch.items.push_back(index);
  }
  const auto m = static_cast<std::int64_t>(image_index.size());
  batch.targets.image_index = torch::tensor(image_index, torch::kLong).reshape({m});
  batch.targets.classes = torch::tensor(classes, torch::kLong).reshape({m});
  batch.targets.boxes = torch::tensor(boxes, torch::kFloat32).reshape({m, 4});
  return batch;
}

Expected<Batch> BatchLoader::Impl::build_guarded(const EpochPlan& epoch, std::int64_t b) {
  try {
    return build(epoch, b);
  } catch (const std::exception& e) {
    return fail(ErrorCode::runtime, std::string("building a training batch failed: ") + e.what());
  }
}

void BatchLoader::Impl::work() {
  // Below the model's threads: LibTorch's OpenMP regions wait for their slowest thread, so a
  // worker that preempts one stalls both; at a lower priority the workers fill idle time.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
  std::unique_lock lock(mutex);
  while (true) {
    work_ready.wait(lock, [&] {
      return stopping || (plan && next_job < plan->batches && next_job < next_out + prefetch);
    });
    if (stopping) return;
    const auto job_plan = plan;
    const std::int64_t b = next_job++;
    lock.unlock();
    auto batch = build_guarded(*job_plan, b);
    lock.lock();
    // A batch of an epoch that was restarted meanwhile is dropped.
    if (plan == job_plan) {
      done.emplace(b, std::move(batch));
      batch_ready.notify_all();
    }
  }
}

BatchLoader::BatchLoader(std::vector<DatasetItem> items, LoaderOptions options) {
  check_options(options);
  m_impl = std::make_unique<Impl>(std::move(items), options);
  cv::setNumThreads(0);
  for (int i = 0; i < options.workers; ++i) {
    m_impl->workers.emplace_back([impl = m_impl.get()] { impl->work(); });
  }
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->stopping = true;
  }
  m_impl->work_ready.notify_all();
  for (auto& worker : m_impl->workers) worker.join();
}

std::int64_t BatchLoader::batches_per_epoch() const {
  return batches_per_rank(m_impl->items.size(), m_impl->options.batch_size, m_impl->options.world_size);
}

std::vector<std::size_t> epoch_order(std::size_t count, std::uint64_t seed, int epoch) {
  std::vector<std::size_t> order(count);
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Fisher–Yates with explicit draws: the same order on every standard library.
  auto rng = rng_for(seed, epoch, k_order_stream);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  return order;
}

void BatchLoader::start_epoch(int epoch, bool mosaic) {
  auto plan = std::make_shared<EpochPlan>();
  plan->epoch = epoch;
  plan->mosaic = mosaic;
  if (m_impl->options.shuffle) {
    plan->order = epoch_order(m_impl->items.size(), m_impl->options.seed, epoch);
  } else {
    plan->order.resize(m_impl->items.size());
    std::iota(plan->order.begin(), plan->order.end(), std::size_t{0});
  }
  if (m_impl->options.world_size > 1) {
    plan->order = shard_for_rank(plan->order, m_impl->options.rank, m_impl->options.world_size);
  }
  plan->batches = batches_per_epoch();
  std::lock_guard lock(m_impl->mutex);
  m_impl->plan = std::move(plan);
  m_impl->next_job = 0;
  m_impl->next_out = 0;
  m_impl->done.clear();
  m_impl->work_ready.notify_all();
}

Expected<std::optional<Batch>> BatchLoader::next() {
  Impl& s = *m_impl;
  std::unique_lock lock(s.mutex);
  if (!s.plan) return fail(ErrorCode::runtime, "BatchLoader::next called before start_epoch");
  if (s.next_out >= s.plan->batches) return std::nullopt;
  Expected<Batch> batch;
  if (s.workers.empty()) {
    const auto plan = s.plan;
    const std::int64_t b = s.next_out++;
    lock.unlock();
    batch = s.build_guarded(*plan, b);
  } else {
    s.batch_ready.wait(lock, [&] { return s.done.contains(s.next_out); });
    auto node = s.done.extract(s.next_out);
    ++s.next_out;
    s.work_ready.notify_all();
    batch = std::move(node.mapped());
  }
  if (!batch) return std::unexpected(std::move(batch.error()));
  return std::optional<Batch>(std::move(*batch));
}

}  // namespace vision::train
