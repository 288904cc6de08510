#include "vision/autolabel/model_autolabel.hpp"

namespace fs = std::filesystem;

namespace vision {

Expected<AutolabelReport> run_model_autolabel(const ModelAutolabelOptions& options) {
  DetectorOptions detector_options = options.detector;
  detector_options.class_names = options.job.class_names;
  detector_options.max_batch = options.job.batch_size;
  auto detector = Detector::open(detector_options);
  if (!detector) return std::unexpected(detector.error());

  AutolabelJob job = options.job;
  job.provenance = "model:" + fs::absolute(options.detector.model_path).string();
  const BatchLabeler label = [&](const std::vector<ImageToLabel>& batch)
      -> Expected<std::vector<std::expected<ImageLabels, LabelFailure>>> {
    std::vector<cv::Mat> images;
    for (const auto& item : batch) images.push_back(item.image);
    auto results = (*detector)->detect(images);
    if (!results) return std::unexpected(results.error());
    std::vector<std::expected<ImageLabels, LabelFailure>> labels;
    for (auto& result : *results) labels.push_back(ImageLabels{std::move(result.detections)});
    return labels;
  };
  auto report = run_autolabel(job, label);
  if (report) report->dropped_unknown_class = (*detector)->dropped_unknown_class();
  return report;
}

}  // namespace vision
