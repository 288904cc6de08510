// Validation of a LibTorch model on the val split, with the same stages and settings as
// `vision val` on an ONNX file (letterbox, confidence 0.001, multi-label, class-aware NMS at
// IoU 0.7 keeping 300 boxes, boxes back to image pixels), so figures from training, from
// best.pt and from the exported model compare directly. Private to src/train.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include <opencv2/core.hpp>

#include "batch_loader.hpp"
#include "vision/core/error.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/eval/detection_metrics.hpp"
#include "vision/image/letterbox.hpp"
#include "vision/train/yolo_layers.hpp"

namespace vision::train {

class ValidationSet {
 public:
  // The training loader's budget.
  static constexpr std::uint64_t k_cache_budget_bytes = BatchLoader::k_cache_budget_bytes;

  // Reads every val image once (an unreadable one is an error naming it) and, when the
  // letterboxed set fits `cache_bytes`, keeps it for the epochs to reuse; otherwise each
  // evaluation reads the images again.
  static Expected<ValidationSet> load(const std::vector<DatasetItem>& items, int img_size,
                                      std::uint64_t cache_bytes = k_cache_budget_bytes);

  // An image that became unreadable since load() is an error naming it.
  Expected<DetectionMetrics> evaluate(YoloDetectorImpl& model, const std::vector<std::string>& names, int batch_size,
                                      const std::function<void(std::int64_t, std::int64_t)>& progress = {}) const;
  std::size_t size() const { return m_paths.size(); }
  bool cached() const { return !m_images.empty() || m_paths.empty(); }

 private:
  Expected<cv::Mat> letterboxed(std::size_t index) const;

  int m_img_size = 0;
  LetterboxOptions m_letterbox;
  std::vector<std::filesystem::path> m_paths;
  std::vector<cv::Mat> m_images;  // letterboxed, BGR; empty when the set is not cached
  std::vector<LetterboxTransform> m_transforms;
  std::vector<std::vector<GroundTruthBox>> m_truth;
};

}  // namespace vision::train
