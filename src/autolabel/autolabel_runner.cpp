#include "vision/autolabel/autolabel_runner.hpp"

#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/progress.hpp"
#include "vision/image/image_files.hpp"

namespace fs = std::filesystem;

namespace vision {

namespace {

constexpr std::size_t k_max_failed_listed = 50;

void record_failure(AutolabelReport& report, const std::string& reason, const std::string& message) {
  ++report.failures;
  ++report.failures_by_reason[reason];
  if (report.failed.size() < k_max_failed_listed) report.failed.push_back(message);
  log::warn("autolabel.image.failed", message, {{"reason", reason}});
}

}  // namespace

Expected<AutolabelReport> run_autolabel(const AutolabelJob& job, const BatchLabeler& label) {
  std::error_code ec;
  if (!fs::is_directory(job.unlabeled_dir, ec)) {
    return fail(ErrorCode::not_found, "data.unlabeled_dir: folder not found: " + job.unlabeled_dir.string());
  }
  LabeledDatasetWriter writer(job.labeled_dir,
                              {.class_names = job.class_names, .on_conflict = job.on_conflict, .visualize = job.visualize});
  AutolabelReport report;
  const std::vector<fs::path> files = list_images(job.unlabeled_dir);
  report.images = static_cast<std::int64_t>(files.size());
  log::info("autolabel.start", "labeling " + std::to_string(files.size()) + " images from " + job.unlabeled_dir.string(),
            {{"images", files.size()}, {"labeler", job.provenance}});

  Progress progress("autolabel", report.images, "img");
  std::int64_t done = 0;
  std::int64_t attempted = 0;
  std::vector<ImageToLabel> batch;
  const auto flush = [&]() -> Expected<void> {
    if (batch.empty()) return {};
    auto results = label(batch);
    if (!results) return std::unexpected(results.error());
    for (size_t i = 0; i < batch.size() && i < results->size(); ++i) {
      auto& result = (*results)[i];
      if (!result) {
        // An image cut short by Ctrl+C is left for the next run, not failed.
        if (interrupt::requested()) ++report.not_attempted;
        else record_failure(report, result.error().reason, batch[i].source.string() + ": " + result.error().message);
        continue;
      }
      for (const auto& d : result->detections) ++report.detections_per_class[d.class_name];
      const LabeledImage labeled{batch[i].source, batch[i].relative, batch[i].image, std::move(result->detections),
                                 job.provenance, std::move(result->record_fields)};
      if (auto ok = writer.write(labeled); !ok) record_failure(report, "write_failed", ok.error().message);
    }
    done += static_cast<std::int64_t>(batch.size());
    batch.clear();
    progress.update(done);
    return {};
  };

  for (const auto& file : files) {
    if (interrupt::requested() || (job.max_images > 0 && attempted >= job.max_images)) {
      report.interrupted = interrupt::requested();
      ++report.not_attempted;
      continue;
    }
    const fs::path relative = file.lexically_relative(job.unlabeled_dir);
    if (writer.should_skip(relative, file)) {
      writer.count_skipped();
      progress.update(++done);
      continue;
    }
    auto bytes = read_image_bytes(file);
    auto image = bytes ? decode_image(*bytes, file.string()) : std::unexpected(bytes.error());
    if (!image) {
      record_failure(report, "unreadable", image.error().message);
      progress.update(++done);
      continue;
    }
    ++attempted;
    batch.push_back({file, relative, std::move(*image), std::move(*bytes)});
    if (static_cast<int>(batch.size()) >= job.batch_size) {
      if (auto ok = flush(); !ok) return std::unexpected(ok.error());
    }
  }
  if (auto ok = flush(); !ok) return std::unexpected(ok.error());
  report.interrupted = report.interrupted || interrupt::requested();
  progress.finish();
  report.counts = writer.counts();
  fs::create_directories(job.labeled_dir / "images", ec);
  if (auto ok = writer.write_dataset_files(job.val_fraction); !ok) return std::unexpected(ok.error());
  return report;
}

nlohmann::json to_json(const AutolabelReport& report, const fs::path& labeled_dir) {
  nlohmann::json json = {{"images", report.images},
                         {"created", report.counts.created},
                         {"overwritten", report.counts.overwritten},
                         {"merged", report.counts.merged},
                         {"skipped", report.counts.skipped},
                         {"detections", report.counts.detections},
                         {"detections_per_class", report.detections_per_class},
                         {"failures", report.failures},
                         {"failures_by_reason", report.failures_by_reason},
                         {"failed", report.failed},
                         {"not_attempted", report.not_attempted},
                         {"dropped_unknown_class", report.dropped_unknown_class},
                         {"previews_dir", (labeled_dir / "previews").string()}};
  json.update(labeled_dataset_paths(labeled_dir));
  return json;
}

}  // namespace vision
