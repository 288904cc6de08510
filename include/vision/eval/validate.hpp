// `vision val` for an ONNX model: run the inference engine over the val split of a YOLO data set
// with validation settings (confidence 0.001, NMS IoU 0.7, 300 boxes) and compute the metrics.
#pragma once

#include <functional>

#include "vision/core/error.hpp"
#include "vision/data/detection_samples.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/eval/detection_metrics.hpp"
#include "vision/infer/detector.hpp"

namespace vision {

struct ValidateOptions {
  DatasetOptions dataset;
  DetectorOptions detector;  // confidence / NMS defaults are set for validation below
  int batch = 8;
};

ValidateOptions default_validate_options();

// The ground truth of a data set item in pixels of its image (width × height).
std::vector<GroundTruthBox> ground_truth_pixels(const DatasetItem& item, int width, int height);

// Evaluates the model on the val split; `progress` (may be empty) is told images done / total.
Expected<DetectionMetrics> validate_onnx(const ValidateOptions& options,
                                         const std::function<void(std::int64_t, std::int64_t)>& progress = {});

// The same evaluation over a two-stage detector's val samples (load_detection_samples: a YOLO
// data set or a flat LabelRecord folder), whose boxes are already in their images' pixels.
Expected<DetectionMetrics> validate_onnx_samples(const ValidateOptions& options, const std::vector<DetectionSample>& samples,
                                                 const std::vector<std::string>& names);

// The metrics table printed by val and train: one row for all classes, one per class.
std::string format_metrics_table(const DetectionMetrics& metrics);

}  // namespace vision
