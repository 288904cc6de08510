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

// The images one after another through the detector in batches into the evaluator;
// `truth(i, width, height)` is image i's ground truth in its pixels.
Expected<DetectionMetrics> evaluate_images(const ValidateOptions& options, const std::vector<std::string>& names,
                                           const std::vector<std::filesystem::path>& paths,
                                           const std::function<std::vector<GroundTruthBox>(size_t, int, int)>& truth,
                                           const std::function<void(std::int64_t, std::int64_t)>& progress) {
  DetectorOptions detector_options = options.detector;
  detector_options.class_names = names;
  detector_options.max_batch = options.batch;
  auto detector = Detector::open(detector_options);
  if (!detector) return std::unexpected(detector.error());

  DetectionEvaluator evaluator(names);
  const auto total = static_cast<std::int64_t>(paths.size());
  std::int64_t done = 0;
  std::vector<cv::Mat> images;
  const auto flush = [&]() -> Expected<void> {
    if (images.empty()) return {};
    auto results = (*detector)->detect(images);
    if (!results) return std::unexpected(results.error());
    for (size_t i = 0; i < images.size(); ++i) {
      evaluator.add(truth(static_cast<size_t>(done) + i, images[i].cols, images[i].rows), (*results)[i].detections);
    }
    done += static_cast<std::int64_t>(images.size());
    if (progress) progress(done, total);
    images.clear();
    return {};
  };
  for (const auto& path : paths) {
    if (interrupt::requested()) return fail(ErrorCode::interrupted, "validation interrupted");
    auto image = read_image(path);
    if (!image) return std::unexpected(image.error());
    images.push_back(std::move(*image));
    if (static_cast<int>(images.size()) >= options.batch) {
      if (auto ok = flush(); !ok) return std::unexpected(ok.error());
    }
  }
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  return evaluator.compute();
}

Expected<DetectionMetrics> evaluate_onnx(const ValidateOptions& options,
                                         const std::function<void(std::int64_t, std::int64_t)>& progress) {
  auto dataset = load_yolo_dataset(options.dataset);
  if (!dataset) return std::unexpected(dataset.error());
  std::vector<std::filesystem::path> paths;
  for (const auto& item : dataset->val) paths.push_back(item.image);
  const auto truth = [&](size_t i, int width, int height) { return ground_truth_pixels(dataset->val[i], width, height); };
  return evaluate_images(options, dataset->names, paths, truth, progress);
}

// Standard-library and OpenCV exceptions that slipped through name themselves in what().
Expected<DetectionMetrics> guarded(const ValidateOptions& options, const std::function<Expected<DetectionMetrics>()>& run) {
  try {
    return run();
  } catch (const VisionError& e) {
    return std::unexpected(e.error());
  } catch (const std::exception& e) {
    return fail(ErrorCode::runtime, "validation of " + options.detector.model_path.string() + " failed: " + e.what());
  }
}

}  // namespace

Expected<DetectionMetrics> validate_onnx(const ValidateOptions& options,
                                         const std::function<void(std::int64_t, std::int64_t)>& progress) {
  // Every library below converts its own exceptions; guarded catches what is left.
  return guarded(options, [&] { return evaluate_onnx(options, progress); });
}

Expected<DetectionMetrics> validate_onnx_samples(const ValidateOptions& options, const std::vector<DetectionSample>& samples,
                                                 const std::vector<std::string>& names) {
  return guarded(options, [&]() -> Expected<DetectionMetrics> {
    std::vector<std::filesystem::path> paths;
    for (const auto& sample : samples) paths.push_back(sample.image);
    const auto truth = [&](size_t i, int, int) {
      std::vector<GroundTruthBox> boxes;
      for (size_t b = 0; b < samples[i].boxes.size(); ++b) boxes.push_back({samples[i].class_ids[b], samples[i].boxes[b]});
      return boxes;
    };
    return evaluate_images(options, names, paths, truth, {});
  });
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
