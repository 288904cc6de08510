// The one detector used by predict, val, autolabel, the edge runner and the remote server:
// an ONNX Runtime session plus the stages letterbox → run → decode → NMS → undo letterbox →
// map model classes onto the project's classes. One Detector per worker thread: it keeps
// reusable buffers and is not safe to share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vision/core/contracts.hpp"
#include "vision/core/error.hpp"
#include "vision/infer/model_info.hpp"

namespace vision {

struct DetectorOptions {
  std::filesystem::path model_path;
  float confidence = 0.25F;
  float nms_iou_threshold = 0.7F;
  int nms_max_detections = 300;
  bool multi_label = false;     // one box per class above the threshold (validation)
  int threads = 0;              // ONNX Runtime intra-op threads; 0 = its default (all cores)
  std::string device = "auto";  // auto (CUDA when present) | cpu | cuda | cuda:N
  int max_batch = 8;            // images per session run when the model has a dynamic batch
  // The project's classes (class_map.names). Model classes are mapped onto them by name; an
  // unknown class is dropped and counted. Empty: report the model's own classes.
  std::vector<std::string> class_names;
};

struct ImageDetections {
  int width = 0;
  int height = 0;
  double latency_ms = 0;  // pre-processing, inference and post-processing, per image
  std::vector<Detection> detections;
};

class Detector {
 public:
  static Expected<std::unique_ptr<Detector>> open(const DetectorOptions& options);
  ~Detector();
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // Detects in BGR images; batched when the model allows it. Empty images are an error.
  Expected<std::vector<ImageDetections>> detect(const std::vector<cv::Mat>& images);
  Expected<ImageDetections> detect(const cv::Mat& image);

  const ModelInfo& model() const;
  // Names of the classes that detections carry (the project's, or the model's).
  const std::vector<std::string>& class_names() const;
  // Detections dropped because their model class is not in the project's class map.
  std::int64_t dropped_unknown_class() const;
  // The execution provider in use: "CPU" or "CUDA".
  const std::string& provider() const;

  // Runs the bare session on a ready NCHW float tensor of `batch` images at the model size;
  // for benchmarks that compare the full path against ONNX Runtime alone.
  Expected<void> run_raw(const float* nchw, int batch);
  // The same, returning the first output as is (shape and values): the exporter compares it
  // with LibTorch.
  struct RawOutput {
    std::vector<std::int64_t> shape;
    std::vector<float> values;
  };
  Expected<RawOutput> run_raw_output(const float* nchw, int batch);

 private:
  struct Impl;
  explicit Detector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace vision
