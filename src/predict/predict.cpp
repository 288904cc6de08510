#include "vision/predict/predict.hpp"

#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "vision/core/exception_error.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/core/percentile.hpp"
#include "vision/image/draw.hpp"
#include "vision/image/image_files.hpp"

namespace fs = std::filesystem;

namespace vision {

namespace {

// A folder is read as images, a file with an image extension as one image, any other file as
// a video.
FrameSourceKind source_kind(const fs::path& source) {
  std::error_code ec;
  if (fs::is_directory(source, ec)) return FrameSourceKind::images;
  if (fs::is_regular_file(source, ec) && !is_image_file(source)) return FrameSourceKind::video;
  return FrameSourceKind::image_file;
}

std::string image_name(const Frame& frame) {
  return frame.file.empty() ? numbered_frame_name(frame.index) : frame.relative.string();
}

// The annotated copy keeps the image's path under the source (video frames: "000042.jpg").
Expected<void> save_annotated(const fs::path& dir, const PredictedImage& image) {
  cv::Mat annotated = image.frame.image.clone();
  draw_detections(annotated, image.result.detections);
  const fs::path file = image.frame.file.empty() ? dir / (image.name + ".jpg") : dir / image.frame.relative;
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (!cv::imwrite(file.string(), annotated)) return fail(ErrorCode::io, "cannot write " + file.string());
  return {};
}

// The running totals of a predict run.
struct Tally {
  PredictReport report;
  std::vector<double> latencies_ms;
};

// One batch through the detector; each result goes to the callback, the totals and, when
// asked, an annotated copy. The batch is emptied.
Expected<void> detect_batch(Detector& detector, std::vector<Frame>& batch, const PredictOptions& options,
                            const PredictCallback& on_image, Tally& tally) {
  if (batch.empty()) return {};
  std::vector<cv::Mat> images;
  for (const auto& frame : batch) images.push_back(frame.image);
  auto results = detector.detect(images);
  if (!results) return std::unexpected(results.error());
  for (size_t i = 0; i < batch.size(); ++i) {
    const ImageDetections& result = (*results)[i];
    const PredictedImage image{batch[i], result, image_name(batch[i])};
    if (on_image) on_image(image);
    ++tally.report.images;
    tally.report.detections += static_cast<std::int64_t>(result.detections.size());
    for (const auto& d : result.detections) ++tally.report.detections_per_class[d.class_name];
    tally.latencies_ms.push_back(result.latency_ms);
    if (!options.save_dir.empty()) {
      if (auto ok = save_annotated(options.save_dir, image); !ok) return ok;
    }
  }
  batch.clear();
  return {};
}

Expected<PredictReport> predict(const PredictOptions& options, const PredictCallback& on_image) {
  std::error_code ec;
  if (!fs::exists(options.source, ec)) return fail(ErrorCode::not_found, "--source: not found: " + options.source.string());
  DetectorOptions detector_options = options.detector;
  detector_options.max_batch = options.batch;
  auto detector = Detector::open(detector_options);
  if (!detector) return std::unexpected(detector.error());
  auto source = open_frame_source(
      {.kind = source_kind(options.source), .path = options.source, .setting = "--source", .log_name = "predict"});
  if (!source) return std::unexpected(source.error());

  Tally tally;
  std::vector<Frame> batch;
  while (!interrupt::requested()) {
    auto frame = (*source)->next();
    if (!frame) return std::unexpected(frame.error());
    if (!frame->has_value()) break;
    batch.push_back(std::move(**frame));
    if (static_cast<int>(batch.size()) >= options.batch) {
      if (auto ok = detect_batch(**detector, batch, options, on_image, tally); !ok) return std::unexpected(ok.error());
    }
  }
  if (auto ok = detect_batch(**detector, batch, options, on_image, tally); !ok) return std::unexpected(ok.error());

  PredictReport& report = tally.report;
  report.model_format = model_format_name((*detector)->model().format);
  report.provider = (*detector)->provider();
  report.failures = (*source)->failures();
  report.dropped_unknown_class = (*detector)->dropped_unknown_class();
  report.latency_p50_ms = percentile(tally.latencies_ms, 0.5);
  report.latency_p95_ms = percentile(tally.latencies_ms, 0.95);
  return report;
}

}  // namespace

Expected<PredictReport> run_predict(const PredictOptions& options, const PredictCallback& on_image) {
  try {
    return predict(options, on_image);
  } catch (...) {
    return std::unexpected(error_from_current_exception("predict " + options.source.string()));
  }
}

nlohmann::json to_json(const PredictReport& r) {
  return {{"model_format", r.model_format},
          {"provider", r.provider},
          {"images", r.images},
          {"failures", r.failures},
          {"detections", r.detections},
          {"detections_per_class", r.detections_per_class},
          {"dropped_unknown_class", r.dropped_unknown_class},
          {"latency_ms", {{"p50", r.latency_p50_ms}, {"p95", r.latency_p95_ms}}}};
}

}  // namespace vision
