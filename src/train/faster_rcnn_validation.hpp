// Validation of a Faster R-CNN model on detection samples with YOLO's evaluator, so both backends'
// figures compare: the model's own post-processing, with the score threshold lowered to 0.001
// and 300 detections per image (as YOLO validation uses confidence 0.001) during validation only.
// Private to src/train.
#pragma once

#include <string>
#include <vector>

#include "vision/core/error.hpp"
#include "vision/data/detection_samples.hpp"
#include "vision/eval/detection_metrics.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"
#include "vision/train/trainer.hpp"

namespace vision::train {

inline constexpr double k_faster_rcnn_val_score_threshold = 0.001;
inline constexpr int64_t k_faster_rcnn_val_detections = 300;

// The image of a sample as the model reads it: float [3, H, W] RGB in [0, 1]; an unreadable
// image is an error naming it.
Expected<torch::Tensor> sample_image(const DetectionSample& sample);

Expected<DetectionMetrics> evaluate_faster_rcnn(faster_rcnn::FasterRcnnImpl& model, const std::vector<DetectionSample>& val,
                                                const std::vector<std::string>& names, int batch_size);

// `vision val --model best.pt` on a Faster R-CNN weight file: the val samples of
// options.dataset.dir (read as load_detection_samples reads it) at the file's image size.
Expected<DetectionMetrics> validate_faster_rcnn_checkpoint(const CheckpointValOptions& options);

}  // namespace vision::train
