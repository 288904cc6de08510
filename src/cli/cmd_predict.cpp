// `vision predict`: run a model on an image, a folder of images or a video file. Binds the
// flags to PredictOptions, prints each image's detections (text or --json) and the summary.
#include <cstdio>

#include "common.hpp"
#include "vision/core/contracts.hpp"
#include "vision/predict/predict.hpp"

namespace fs = std::filesystem;

namespace vision::cli {

namespace {

struct PredictCommand {
  CommonOptions common;
  PredictOptions predict;
  bool json = false;
};

void print_result(const PredictedImage& image, bool json) {
  const ImageDetections& result = image.result;
  if (json) {
    nlohmann::json detections = nlohmann::json::array();
    for (const auto& d : result.detections) detections.push_back(to_json(d, SchemaVersionField::omit));
    // "image": the file's path as found, or a video frame's number.
    const nlohmann::json id =
        image.frame.file.empty() ? nlohmann::json(image.frame.index) : nlohmann::json(image.frame.file.string());
    const nlohmann::json line = {{"image", id}, {"width", result.width}, {"height", result.height},
                                 {"latency_ms", result.latency_ms}, {"detections", detections}};
    std::printf("%s\n", line.dump().c_str());
    return;
  }
  std::printf("%s  %dx%d  %zu detection%s  %.1f ms\n", image.name.c_str(), result.width, result.height,
              result.detections.size(), result.detections.size() == 1 ? "" : "s", result.latency_ms);
  for (const auto& d : result.detections) {
    std::printf("  %-16s %.3f  [%.1f, %.1f, %.1f, %.1f]\n", d.class_name.c_str(), d.score, d.bbox_xyxy[0],
                d.bbox_xyxy[1], d.bbox_xyxy[2], d.bbox_xyxy[3]);
  }
}

Expected<void> predict(Run& run, PredictOptions options, bool json) {
  options.detector.class_names = run.config().class_names();
  run.artifacts()["model"] = fs::absolute(options.detector.model_path).string();
  auto report = run_predict(options, [json](const PredictedImage& image) { print_result(image, json); });
  if (!report) return std::unexpected(report.error());
  run.artifacts().update(to_json(*report));
  const fs::path outputs = options.save_dir.empty() ? fs::path() : fs::absolute(options.save_dir);
  if (!outputs.empty()) run.artifacts()["save_dir"] = outputs.string();
  print_summary({.command = "predict",
                 .images = report->images,
                 .unreadable = report->failures,
                 .boxes_per_class = report->detections_per_class,
                 .seconds = run.elapsed_ms() / 1000,
                 .outputs = outputs});
  return {};
}

int run_predict_command(const PredictCommand& command) {
  const PredictOptions& options = command.predict;
  return run_command(
      command.common, "predict", [](const Config&) { return RunSpec{"predict", "", ""}; },
      [&options](const Config&) -> Expected<void> {
        if (auto ok = require_path(options.detector.model_path, "--model", false); !ok) return ok;
        // Training checkpoints (either backend) run through their ONNX export, as on a device.
        if (options.detector.model_path.extension() == ".pt") {
          return fail(ErrorCode::config, "--model " + options.detector.model_path.string() +
                                             " is a training checkpoint; predict runs ONNX models: export it with "
                                             "`vision export --model " + options.detector.model_path.string() + "`");
        }
        std::error_code ec;
        if (!fs::exists(options.source, ec)) return fail(ErrorCode::not_found, "--source: not found: " + options.source.string());
        return {};
      },
      [&command](Run& run) { return predict(run, command.predict, command.json); });
}

}  // namespace

void add_predict_command(CLI::App& app, Action& action) {
  auto command = std::make_shared<PredictCommand>();
  PredictOptions& options = command->predict;
  auto* predict = app.add_subcommand("predict", "Detect objects in an image, folder or video");
  add_common_options(*predict, command->common);
  predict->add_option("--model", options.detector.model_path, "ONNX model (ours, Ultralytics YOLOv5/v8/11, Faster R-CNN style)")->required();
  predict->add_option("--source", options.source, "Image file, folder (recursive) or video file")->required();
  predict->add_option("--conf", options.detector.confidence, "Score threshold")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  predict->add_option("--iou", options.detector.nms_iou_threshold, "NMS IoU threshold")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  predict->add_option("--batch", options.batch, "Images per inference run")->capture_default_str()->check(CLI::PositiveNumber);
  predict->add_option("--threads", options.detector.threads, "ONNX Runtime threads (0 = all cores)")->capture_default_str();
  predict->add_option("--device", options.detector.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  predict->add_option("--save", options.save_dir, "Write annotated images into this folder");
  predict->add_flag("--json", command->json, "One JSON object per image or frame on stdout");
  predict->callback([&action, command] { action = [command] { return run_predict_command(*command); }; });
}

}  // namespace vision::cli
