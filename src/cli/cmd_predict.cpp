// `vision predict`: run a model on an image, a folder of images or a video file.
#include <algorithm>
#include <cstdio>
#include <map>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "common.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/percentile.hpp"
#include "vision/image/draw.hpp"
#include "vision/image/image_files.hpp"
#include "vision/infer/detector.hpp"

namespace fs = std::filesystem;

namespace vision::cli {

namespace {

struct PredictOptions {
  CommonOptions common;
  std::string model;
  std::string source;
  float confidence = 0.25F;
  float iou = 0.7F;
  int batch = 4;
  int threads = 0;
  std::string device = "auto";
  std::string save_dir;
  bool json = false;
};

struct Frame {
  std::string label;       // path relative to the source folder, or the frame index
  nlohmann::json id;       // "image" field of --json: path string or frame number
  cv::Mat image;
};

struct Totals {
  std::int64_t images = 0;
  std::int64_t failures = 0;
  std::int64_t detections = 0;
  std::map<std::string, std::int64_t> per_class;
  std::vector<double> latencies;
};

void print_result(const Frame& frame, const ImageDetections& result, bool json) {
  if (json) {
    nlohmann::json detections = nlohmann::json::array();
    for (const auto& d : result.detections) {
      detections.push_back({{"class_id", d.class_id}, {"class_name", d.class_name},
                            {"score", d.score}, {"bbox_xyxy", d.bbox_xyxy}});
    }
    const nlohmann::json line = {{"image", frame.id}, {"width", result.width}, {"height", result.height},
                                 {"latency_ms", result.latency_ms}, {"detections", detections}};
    std::printf("%s\n", line.dump().c_str());
    return;
  }
  std::printf("%s  %dx%d  %zu detection%s  %.1f ms\n", frame.label.c_str(), result.width, result.height,
              result.detections.size(), result.detections.size() == 1 ? "" : "s", result.latency_ms);
  for (const auto& d : result.detections) {
    std::printf("  %-16s %.3f  [%.1f, %.1f, %.1f, %.1f]\n", d.class_name.c_str(), d.score, d.bbox_xyxy[0],
                d.bbox_xyxy[1], d.bbox_xyxy[2], d.bbox_xyxy[3]);
  }
}

Expected<void> save_annotated(const fs::path& dir, const Frame& frame, const ImageDetections& result, bool video) {
  cv::Mat annotated = frame.image.clone();
  draw_detections(annotated, result.detections);
  fs::path file = video ? dir / (frame.label + ".jpg") : dir / frame.label;
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (!cv::imwrite(file.string(), annotated)) return fail(ErrorCode::io, "cannot write " + file.string());
  return {};
}

Expected<void> predict(Run& run, const PredictOptions& options) {
  const fs::path source = options.source;
  std::error_code ec;
  if (!fs::exists(source, ec)) return fail(ErrorCode::not_found, "--source: not found: " + options.source);

  DetectorOptions detector_options;
  detector_options.model_path = options.model;
  detector_options.confidence = options.confidence;
  detector_options.nms_iou_threshold = options.iou;
  detector_options.threads = options.threads;
  detector_options.device = options.device;
  detector_options.max_batch = options.batch;
  detector_options.class_names = run.config().class_names();
  auto detector = Detector::open(detector_options);
  if (!detector) return std::unexpected(detector.error());
  const ModelInfo& model = (*detector)->model();
  run.artifacts()["model"] = fs::absolute(options.model).string();
  run.artifacts()["model_format"] = model_format_name(model.format);
  run.artifacts()["provider"] = (*detector)->provider();

  Totals totals;
  const bool is_video = fs::is_regular_file(source) && !is_image_file(source);
  const auto handle = [&](std::vector<Frame>& batch) -> Expected<void> {
    if (batch.empty()) return {};
    std::vector<cv::Mat> images;
    for (const auto& f : batch) images.push_back(f.image);
    auto results = (*detector)->detect(images);
    if (!results) return std::unexpected(results.error());
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& result = (*results)[i];
      print_result(batch[i], result, options.json);
      ++totals.images;
      totals.detections += static_cast<std::int64_t>(result.detections.size());
      for (const auto& d : result.detections) ++totals.per_class[d.class_name];
      totals.latencies.push_back(result.latency_ms);
      if (!options.save_dir.empty()) {
        if (auto ok = save_annotated(options.save_dir, batch[i], result, is_video); !ok) return ok;
      }
    }
    batch.clear();
    return {};
  };

  std::vector<Frame> batch;
  if (is_video) {
    cv::VideoCapture capture(source.string());
    if (!capture.isOpened()) return fail(ErrorCode::invalid_data, "--source: cannot open video " + source.string());
    cv::Mat image;
    for (std::int64_t index = 0; !interrupt::requested() && capture.read(image); ++index) {
      char label[32];
      std::snprintf(label, sizeof label, "%06lld", static_cast<long long>(index));
      batch.push_back({label, index, image.clone()});
      if (static_cast<int>(batch.size()) >= options.batch) {
        if (auto ok = handle(batch); !ok) return ok;
      }
    }
  } else {
    const bool folder = fs::is_directory(source);
    const std::vector<fs::path> files = folder ? list_images(source) : std::vector<fs::path>{source};
    if (files.empty()) return fail(ErrorCode::not_found, "--source: no images in " + source.string());
    for (const auto& file : files) {
      if (interrupt::requested()) break;
      auto image = read_image(file);
      if (!image) {
        ++totals.failures;
        log::warn("predict.image.failed", image.error().message, {{"image", file.string()}});
        continue;
      }
      const std::string label = folder ? file.lexically_relative(source).string() : file.filename().string();
      batch.push_back({label, file.string(), std::move(*image)});
      if (static_cast<int>(batch.size()) >= options.batch) {
        if (auto ok = handle(batch); !ok) return ok;
      }
    }
  }
  if (auto ok = handle(batch); !ok) return ok;

  auto& a = run.artifacts();
  a["images"] = totals.images;
  a["failures"] = totals.failures;
  a["detections"] = totals.detections;
  a["detections_per_class"] = totals.per_class;
  a["dropped_unknown_class"] = (*detector)->dropped_unknown_class();
  a["latency_ms"] = {{"p50", percentile(totals.latencies, 0.5)}, {"p95", percentile(totals.latencies, 0.95)}};
  if (!options.save_dir.empty()) a["save_dir"] = fs::absolute(options.save_dir).string();
  print_summary({.command = "predict",
                 .images = totals.images,
                 .unreadable = totals.failures,
                 .boxes_per_class = totals.per_class,
                 .seconds = run.elapsed_ms() / 1000,
                 .outputs = options.save_dir.empty() ? fs::path() : fs::absolute(options.save_dir)});
  return {};
}

int run_predict(const PredictOptions& options) {
  return run_command(
      options.common, "predict", [](const Config&) { return RunSpec{"predict", "", ""}; },
      [&options](const Config&) -> Expected<void> {
        if (auto ok = require_path(options.model, "--model", false); !ok) return ok;
        std::error_code ec;
        if (!fs::exists(options.source, ec)) return fail(ErrorCode::not_found, "--source: not found: " + options.source);
        return {};
      },
      [&options](Run& run) { return predict(run, options); });
}

}  // namespace

void add_predict_command(CLI::App& app, Action& action) {
  auto options = std::make_shared<PredictOptions>();
  auto* command = app.add_subcommand("predict", "Detect objects in an image, folder or video");
  add_common_options(*command, options->common);
  command->add_option("--model", options->model, "ONNX model (ours, Ultralytics YOLOv5/v8/11, Faster R-CNN style)")->required();
  command->add_option("--source", options->source, "Image file, folder (recursive) or video file")->required();
  command->add_option("--conf", options->confidence, "Score threshold")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  command->add_option("--iou", options->iou, "NMS IoU threshold")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  command->add_option("--batch", options->batch, "Images per inference run")->capture_default_str()->check(CLI::PositiveNumber);
  command->add_option("--threads", options->threads, "ONNX Runtime threads (0 = all cores)")->capture_default_str();
  command->add_option("--device", options->device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  command->add_option("--save", options->save_dir, "Write annotated images into this folder");
  command->add_flag("--json", options->json, "One JSON object per image or frame on stdout");
  command->callback([&action, options] { action = [options] { return run_predict(*options); }; });
}

}  // namespace vision::cli
