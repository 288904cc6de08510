// A fixed set of inference workers, each owning its own Detector (one session per worker, no
// global lock). HTTP threads hand images over through a queue and wait for their result.
#pragma once

#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <opencv2/core.hpp>

#include "vision/core/bounded_queue.hpp"
#include "vision/core/error.hpp"
#include "vision/infer/detector.hpp"

namespace vision {

class InferencePool {
 public:
  // Opens `workers` detectors; fails when the model does not load.
  static Expected<std::unique_ptr<InferencePool>> open(const DetectorOptions& options, int workers);
  ~InferencePool();
  InferencePool(const InferencePool&) = delete;
  InferencePool& operator=(const InferencePool&) = delete;

  // Queues the image; the future carries the detections or the error.
  std::future<Expected<ImageDetections>> submit(cv::Mat image);
  int workers() const { return static_cast<int>(m_threads.size()); }
  const ModelInfo& model() const { return m_model; }
  const std::vector<std::string>& class_names() const { return m_class_names; }
  void stop();

 private:
  struct Task {
    cv::Mat image;
    std::promise<Expected<ImageDetections>> result;
  };
  InferencePool() : m_tasks(256) {}

  BoundedQueue<Task> m_tasks;
  std::vector<std::thread> m_threads;
  ModelInfo m_model;
  std::vector<std::string> m_class_names;
};

}  // namespace vision
