// Validation of a LibTorch model on the val split, with the same stages and settings as
// `vision val` on an ONNX file (letterbox, confidence 0.001, multi-label, class-aware NMS at
// IoU 0.7 keeping 300 boxes, boxes back to image pixels), so figures from training, from
// best.pt and from the exported model compare directly. Private to src/train.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include <opencv2/core.hpp>

#include "vision/core/error.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/eval/detection_metrics.hpp"
#include "vision/image/letterbox.hpp"
#include "yolo_layers.hpp"

namespace vision::train {

class ValidationSet {
 public:
  // Reads and letterboxes every val image once; epochs reuse them.
  static Expected<ValidationSet> load(const std::vector<DatasetItem>& items, int img_size);

  DetectionMetrics evaluate(YoloDetectorImpl& model, const std::vector<std::string>& names, int batch_size,
                            const std::function<void(std::int64_t, std::int64_t)>& progress = {}) const;
  std::size_t size() const { return m_images.size(); }

 private:
  int m_img_size = 0;
  std::vector<cv::Mat> m_images;  // letterboxed, BGR
  std::vector<LetterboxTransform> m_transforms;
  std::vector<std::vector<GroundTruthBox>> m_truth;
};

}  // namespace vision::train
