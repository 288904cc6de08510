#include "vision/remote/inference_pool.hpp"

#include "vision/core/exception_error.hpp"

namespace vision {

Expected<std::unique_ptr<InferencePool>> InferencePool::open(const DetectorOptions& options, int workers) {
  std::unique_ptr<InferencePool> pool(new InferencePool());
  std::vector<std::unique_ptr<Detector>> detectors;
  for (int i = 0; i < std::max(workers, 1); ++i) {
    auto detector = Detector::open(options);
    if (!detector) return std::unexpected(detector.error());
    detectors.push_back(std::move(*detector));
  }
  pool->m_model = detectors.front()->model();
  pool->m_class_names = detectors.front()->class_names();
  for (auto& detector : detectors) {
    pool->m_threads.emplace_back([queue = &pool->m_tasks, owned = std::shared_ptr<Detector>(std::move(detector))] {
      while (auto task = queue->pop()) {
        try {
          task->result.set_value(owned->detect(task->image));
        } catch (...) {
          task->result.set_value(std::unexpected(error_from_current_exception("inference")));
        }
      }
    });
  }
  return pool;
}

InferencePool::~InferencePool() { stop(); }

std::future<Expected<ImageDetections>> InferencePool::submit(cv::Mat image) {
  Task task{std::move(image), {}};
  auto future = task.result.get_future();
  if (!m_tasks.push(std::move(task))) {
    std::promise<Expected<ImageDetections>> closed;
    closed.set_value(std::unexpected(Error{ErrorCode::runtime, "the inference pool is stopping"}));
    return closed.get_future();
  }
  return future;
}

void InferencePool::stop() {
  m_tasks.close();
  for (auto& thread : m_threads) {
    if (thread.joinable()) thread.join();
  }
}

}  // namespace vision
