#include "vision/autolabel/model_autolabel.hpp"

#include <nlohmann/json.hpp>

#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/progress.hpp"
#include "vision/image/image_files.hpp"

namespace fs = std::filesystem;

namespace vision {

namespace {

void record_failure(AutolabelReport& report, const std::string& message) {
  ++report.failures;
  if (report.failed.size() < 50) report.failed.push_back(message);
  log::warn("autolabel.image.failed", message);
}

}  // namespace

Expected<AutolabelReport> run_model_autolabel(const ModelAutolabelOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(options.unlabeled_dir, ec)) {
    return fail(ErrorCode::not_found, "data.unlabeled_dir: folder not found: " + options.unlabeled_dir.string());
  }
  DetectorOptions detector_options = options.detector;
  detector_options.class_names = options.class_names;
  detector_options.max_batch = options.batch_size;
  auto detector = Detector::open(detector_options);
  if (!detector) return std::unexpected(detector.error());

  LabeledDatasetWriter writer(options.labeled_dir, options.class_names, options.on_conflict, options.visualize);
  const std::string provenance = "model:" + fs::absolute(options.detector.model_path).string();
  AutolabelReport report;
  const std::vector<fs::path> files = list_images(options.unlabeled_dir);
  report.images = static_cast<std::int64_t>(files.size());
  log::info("autolabel.start", "labeling " + std::to_string(files.size()) + " images from " + options.unlabeled_dir.string(),
            {{"images", files.size()}, {"model", provenance}});

  Progress progress("autolabel", report.images, "img");
  std::int64_t done = 0;
  std::vector<LabeledImage> batch;
  const auto flush = [&]() -> Expected<void> {
    if (batch.empty()) return {};
    std::vector<cv::Mat> images;
    for (const auto& item : batch) images.push_back(item.image);
    auto results = (*detector)->detect(images);
    if (!results) return std::unexpected(results.error());
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].detections = std::move((*results)[i].detections);
      for (const auto& d : batch[i].detections) ++report.detections_per_class[d.class_name];
      if (auto ok = writer.write(batch[i]); !ok) record_failure(report, ok.error().message);
    }
    done += static_cast<std::int64_t>(batch.size());
    batch.clear();
    progress.update(done);
    return {};
  };

  for (const auto& file : files) {
    if (interrupt::requested()) {
      report.interrupted = true;
      break;
    }
    const fs::path relative = file.lexically_relative(options.unlabeled_dir);
    if (writer.should_skip(relative)) {
      writer.count_skipped();
      progress.update(++done);
      continue;
    }
    auto image = read_image(file);
    if (!image) {
      record_failure(report, image.error().message);
      progress.update(++done);
      continue;
    }
    batch.push_back({file, relative, std::move(*image), {}, provenance});
    if (static_cast<int>(batch.size()) >= options.batch_size) {
      if (auto ok = flush(); !ok) return std::unexpected(ok.error());
    }
  }
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  progress.finish();
  report.counts = writer.counts();
  report.dropped_unknown_class = (*detector)->dropped_unknown_class();
  fs::create_directories(options.labeled_dir / "images", ec);
  if (auto ok = writer.write_dataset_files(options.val_fraction); !ok) return std::unexpected(ok.error());
  return report;
}

nlohmann::json to_json(const AutolabelReport& report, const fs::path& labeled_dir) {
  return {{"images", report.images},
          {"created", report.counts.created},
          {"overwritten", report.counts.overwritten},
          {"merged", report.counts.merged},
          {"skipped", report.counts.skipped},
          {"detections", report.counts.detections},
          {"detections_per_class", report.detections_per_class},
          {"failures", report.failures},
          {"failed", report.failed},
          {"dropped_unknown_class", report.dropped_unknown_class},
          {"labeled_dir", labeled_dir.string()},
          {"dataset_yaml", (labeled_dir / "dataset.yaml").string()},
          {"images_dir", (labeled_dir / "images").string()},
          {"labels_dir", (labeled_dir / "labels").string()},
          {"records_dir", (labeled_dir / "records").string()},
          {"previews_dir", (labeled_dir / "previews").string()}};
}

}  // namespace vision
