// `vision val` on an ONNX model: the val split through the inference engine into the evaluator,
// and the metrics table that val and train print.
#include "vision/eval/validate.hpp"

#include <cstdio>
#include <exception>

#include "vision/core/interrupt.hpp"
#include "vision/data/yolo_labels.hpp"
#include "vision/image/image_files.hpp"

namespace vision {

ValidateOptions default_validate_options() {
  ValidateOptions options;
  options.detector.confidence = 0.001F;
  options.detector.nms_iou_threshold = 0.7F;
  options.detector.nms_max_detections = 300;
  options.detector.multi_label = true;
  return options;
}

std::vector<GroundTruthBox> ground_truth_pixels(const DatasetItem& item, int width, int height) {
  std::vector<GroundTruthBox> truth;
  truth.reserve(item.boxes.size());
  for (const auto& b : item.boxes) truth.push_back({b.class_id, yolo_box_to_xyxy(b, width, height)});
  return truth;
}

namespace {

Expected<DetectionMetrics> evaluate_onnx(const ValidateOptions& options,
                                         const std::function<void(std::int64_t, std::int64_t)>& progress) {
  auto dataset = load_yolo_dataset(options.dataset);
  if (!dataset) return std::unexpected(dataset.error());
  DetectorOptions detector_options = options.detector;
  detector_options.class_names = dataset->names;
  detector_options.max_batch = options.batch;
  auto detector = Detector::open(detector_options);
  if (!detector) return std::unexpected(detector.error());

  DetectionEvaluator evaluator(dataset->names);
  const auto total = static_cast<std::int64_t>(dataset->val.size());
  std::int64_t done = 0;
  std::vector<cv::Mat> images;
  std::vector<const DatasetItem*> items;
  const auto flush = [&]() -> Expected<void> {
    if (images.empty()) return {};
    auto results = (*detector)->detect(images);
    if (!results) return std::unexpected(results.error());
    for (size_t i = 0; i < images.size(); ++i) {
      evaluator.add(ground_truth_pixels(*items[i], images[i].cols, images[i].rows), (*results)[i].detections);
    }
    done += static_cast<std::int64_t>(images.size());
    if (progress) progress(done, total);
    images.clear();
    items.clear();
    return {};
  };
  for (const auto& item : dataset->val) {
    if (interrupt::requested()) return fail(ErrorCode::interrupted, "validation interrupted");
    auto image = read_image(item.image);
    if (!image) return std::unexpected(image.error());
    images.push_back(std::move(*image));
    items.push_back(&item);
    if (static_cast<int>(images.size()) >= options.batch) {
      if (auto ok = flush(); !ok) return std::unexpected(ok.error());
    }
  }
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  return evaluator.compute();
}

}  // namespace

Expected<DetectionMetrics> validate_onnx(const ValidateOptions& options,
                                         const std::function<void(std::int64_t, std::int64_t)>& progress) {
  // Every library below converts its own exceptions; what is left (the standard library's, an
  // OpenCV or std::filesystem one that slipped through) names itself in what().
  try {
    return evaluate_onnx(options, progress);
  } catch (const VisionError& e) {
    return std::unexpected(e.error());
  } catch (const std::exception& e) {
    return fail(ErrorCode::runtime, "validation of " + options.detector.model_path.string() + " failed: " + e.what());
  }
}

std::string format_metrics_table(const DetectionMetrics& m) {
  std::string text;
  char line[160];
  std::snprintf(line, sizeof line, "%-16s %8s %10s %8s %8s %8s %10s\n", "class", "images", "instances", "P", "R", "mAP50", "mAP50-95");
  text += line;
  std::snprintf(line, sizeof line, "%-16s %8lld %10lld %8.3f %8.3f %8.3f %10.3f\n", "all", static_cast<long long>(m.images),
                static_cast<long long>(m.instances), m.precision, m.recall, m.map50, m.map50_95);
  text += line;
  for (const auto& c : m.per_class) {
    std::snprintf(line, sizeof line, "%-16s %8lld %10lld %8.3f %8.3f %8.3f %10.3f\n", c.name.substr(0, 16).c_str(),
                  static_cast<long long>(c.images), static_cast<long long>(c.instances), c.precision, c.recall, c.ap50, c.ap50_95);
    text += line;
  }
  return text;
}

}  // namespace vision
