// The backends this build delivers, registered by name. Each entry binds config keys to the
// module's options struct and calls the module; nothing below src/cli reads Config.
#include <cstdio>
#include <thread>

#include "common.hpp"
#include "vision/autolabel/llm_autolabel.hpp"
#include "vision/autolabel/model_autolabel.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/progress.hpp"
#include "vision/core/secrets.hpp"
#include "vision/edge/edge_runner.hpp"
#include "vision/edge/llm_processor.hpp"
#include "vision/edge/local_processor.hpp"
#include "vision/edge/stream_processor.hpp"
#include "vision/edge/stream_stats.hpp"
#include "vision/eval/validate.hpp"
#include "vision/remote/inference_server.hpp"
#include "vision/stats_client/http_stats_transport.hpp"
#include "vision/stats_client/stats_spool.hpp"

namespace vision::cli {

namespace {

// The settings every autolabel mode reads.
Expected<AutolabelJob> autolabel_job(const Config& c) {
  auto on_conflict = parse_on_conflict(c.string("autolabel.on_conflict"));
  if (!on_conflict) return std::unexpected(on_conflict.error());
  AutolabelJob job;
  job.unlabeled_dir = c.path("data.unlabeled_dir");
  job.labeled_dir = c.path("data.labeled_dir");
  job.class_names = c.class_names();
  job.on_conflict = *on_conflict;
  job.visualize = c.boolean("autolabel.visualize");
  job.batch_size = static_cast<int>(c.integer("autolabel.batch_size"));
  job.val_fraction = c.number("autolabel.val_fraction");
  return job;
}

void print_autolabel_summary(const Run& run, const AutolabelReport& report, const std::filesystem::path& labeled_dir,
                             std::string figures = {}) {
  print_summary({.command = "autolabel",
                 .images = report.images,
                 .unreadable = report.failures,
                 .boxes_per_class = report.detections_per_class,
                 .seconds = run.elapsed_ms() / 1000,
                 .outputs = labeled_dir,
                 .figures = std::move(figures)});
}

// "http_401 3, timeout 1": why the LLM requests of a run failed, for its error message.
std::string failure_reasons(const llm::LlmCounts& counts) {
  std::string reasons;
  for (const auto& [reason, n] : counts.failures_by_reason) {
    reasons += (reasons.empty() ? "" : ", ") + reason + " " + std::to_string(n);
  }
  return reasons;
}

Expected<void> autolabel_with_model(Run& run) {
  const Config& c = run.config();
  auto job = autolabel_job(c);
  if (!job) return std::unexpected(job.error());
  ModelAutolabelOptions options{*job, {}};
  options.detector.model_path = c.path("autolabel.model.onnx_model");
  options.detector.confidence = static_cast<float>(c.number("autolabel.confidence"));
  run.artifacts()["model"] = options.detector.model_path.string();
  auto report = run_model_autolabel(options);
  if (!report) return std::unexpected(report.error());
  run.artifacts().update(to_json(*report, job->labeled_dir));
  print_autolabel_summary(run, *report, job->labeled_dir);
  return {};
}

Expected<void> autolabel_with_llm(Run& run) {
  const Config& c = run.config();
  auto job = autolabel_job(c);
  if (!job) return std::unexpected(job.error());
  job->max_images = c.integer("autolabel.llm.max_images");
  const LlmAutolabelOptions options{*job, llm_client_options(c, "autolabel.llm", c.number("autolabel.confidence"))};
  run.artifacts()["model"] = options.client.model;
  run.artifacts()["base_url"] = redact_url_secrets(options.client.base_url);
  auto report = run_llm_autolabel(options);
  if (!report) return std::unexpected(report.error());
  run.artifacts().update(to_json(*report, job->labeled_dir));
  print_autolabel_summary(run, report->labels, job->labeled_dir,
                          std::to_string(report->llm.requests) + " LLM requests, " +
                              std::to_string(report->llm.retries) + " retries");
  // Every image sent failed: the endpoint, the key or the model is wrong, not one image.
  if (report->llm.answered == 0 && report->llm.failed > 0) {
    return fail(ErrorCode::runtime, "no image was labeled, every request failed (" +
                                        failure_reasons(report->llm) + "): " + report->labels.failed.front());
  }
  return {};
}

nlohmann::json sender_json(const StatsSenderCounts& c) {
  return {{"queued", c.queued}, {"sent", c.sent},         {"pending", c.pending},
          {"failed", c.failed}, {"evicted", c.evicted}, {"replayed", c.replayed}};
}

// `endpoint` is the section's stats_endpoint, or "" when another process reports these frames.
StatsSender make_sender(const Run& run, const std::string& section, std::string endpoint) {
  const Config& c = run.config();
  StatsSenderOptions options;
  options.endpoint = std::move(endpoint);
  options.jsonl_path = run.dir() / "stats.jsonl";
  // One spool per source: a later run with the same source_id delivers what this one could not.
  options.spool_dir = spool_dir_for(c.root(), c.string(section + ".source_id"));
  options.spool_max_bytes = static_cast<std::uint64_t>(c.number("statistics.spool_max_mb") * 1024 * 1024);
  return StatsSender(options, make_http_stats_transport(c.string(section + ".api_key"), c.number(section + ".stats_timeout_sec")));
}

StreamOptions stream_options(const Config& c) {
  return {c.string("deploy.edge.stream_endpoint"), c.string("deploy.edge.stream_api_key"),
          c.number("deploy.edge.stream_timeout_sec"), static_cast<int>(c.integer("deploy.edge.jpeg_quality")),
          c.string("deploy.edge.source_id")};
}

// Where the edge pushes its StatsEvents: deploy.edge.stats_endpoint, except in stream mode when
// the server reports the frames (deploy.edge.stream_push_stats); then stats.jsonl keeps them.
Expected<std::string> edge_stats_endpoint(Run& run) {
  const Config& c = run.config();
  if (c.string("deploy.edge.mode") != "stream") return c.string("deploy.edge.stats_endpoint");
  const std::string setting = c.string("deploy.edge.stream_push_stats");
  auto parsed = parse_stream_push_stats(setting);
  if (!parsed) return std::unexpected(parsed.error());
  const auto decision = decide_stream_push(*parsed, stream_options(c));
  run.artifacts()["stream_push_stats"] = {
      {"setting", setting}, {"edge_pushes", decision.edge_pushes}, {"reason", decision.reason}};
  return decision.edge_pushes ? c.string("deploy.edge.stats_endpoint") : std::string();
}

// The processor of deploy.edge.mode; `llm` points at it in mode llm, whose counts the run reports.
struct EdgeProcessor {
  std::unique_ptr<FrameProcessor> processor;
  const LlmProcessor* llm = nullptr;
};

Expected<EdgeProcessor> edge_processor(Run& run, const FrameSource& source) {
  const Config& c = run.config();
  if (c.string("deploy.edge.mode") == "llm") {
    LlmProcessorOptions options{llm_client_options(c, "deploy.edge.llm", c.number("deploy.edge.confidence")), source.live()};
    options.client.jpeg_quality = static_cast<int>(c.integer("deploy.edge.jpeg_quality"));
    run.artifacts()["model"] = options.client.model;
    run.artifacts()["base_url"] = redact_url_secrets(options.client.base_url);
    auto opened = LlmProcessor::open(std::move(options));
    if (!opened) return std::unexpected(opened.error());
    const LlmProcessor* llm = opened->get();
    return EdgeProcessor{std::move(*opened), llm};
  }
  if (c.string("deploy.edge.mode") == "stream") {
    run.artifacts()["stream_endpoint"] = c.string("deploy.edge.stream_endpoint");
    auto stream = make_stream_processor(stream_options(c));
    if (!stream) return std::unexpected(stream.error());
    return EdgeProcessor{std::move(*stream)};
  }
  DetectorOptions detector;
  detector.model_path = c.path("deploy.edge.local_model");
  detector.confidence = static_cast<float>(c.number("deploy.edge.confidence"));
  detector.class_names = c.class_names();
  auto opened = Detector::open(detector);
  if (!opened) return std::unexpected(opened.error());
  run.artifacts()["model"] = detector.model_path.string();
  run.artifacts()["provider"] = (*opened)->provider();
  return EdgeProcessor{std::make_unique<LocalProcessor>(std::move(*opened))};
}

// The config key that names the input of each kind of edge source; its errors name it too.
std::string edge_source_key(FrameSourceKind kind) {
  switch (kind) {
    case FrameSourceKind::images:
    case FrameSourceKind::image_file:
      return "deploy.edge.images_dir";
    case FrameSourceKind::video:
      return "deploy.edge.video_path";
    case FrameSourceKind::camera:
      return "deploy.edge.camera_id";
    case FrameSourceKind::stream:
      return "deploy.edge.rtsp_url";
  }
  return "deploy.edge.source";
}

// deploy edge, every mode: they differ only in who detects.
Expected<void> deploy_edge(Run& run) {
  const Config& c = run.config();
  auto kind = parse_frame_source_kind(c.string("deploy.edge.source"));
  if (!kind) return std::unexpected(kind.error());
  FrameSourceOptions source_options;
  source_options.kind = *kind;
  source_options.setting = edge_source_key(*kind);
  if (*kind == FrameSourceKind::images || *kind == FrameSourceKind::video) source_options.path = c.path(source_options.setting);
  source_options.camera_id = static_cast<int>(c.integer("deploy.edge.camera_id"));
  source_options.url = c.string("deploy.edge.rtsp_url");
  source_options.log_name = "deploy.edge";
  auto source = open_frame_source(source_options);
  if (!source) return std::unexpected(source.error());
  run.artifacts()["source"] = (*source)->describe();
  auto processor = edge_processor(run, **source);
  if (!processor) return std::unexpected(processor.error());

  auto stats_endpoint = edge_stats_endpoint(run);
  if (!stats_endpoint) return std::unexpected(stats_endpoint.error());
  StatsSender sender = make_sender(run, "deploy.edge", std::move(*stats_endpoint));
  if (auto ok = sender.start(); !ok) return ok;
  EdgeOptions options;
  options.source_id = c.string("deploy.edge.source_id");
  options.fps_limit = c.number("deploy.edge.fps_limit");
  options.max_frames = c.integer("deploy.edge.max_frames");
  options.save_annotated = c.boolean("deploy.edge.save_annotated");
  options.outputs_dir = options.save_annotated ? run.outputs_dir() : std::filesystem::path();
  options.jpeg_quality = static_cast<int>(c.integer("deploy.edge.jpeg_quality"));
  options.image_folder = *kind == FrameSourceKind::images;
  log::info("deploy.edge.start", "detecting on " + (*source)->describe());
  auto report = run_edge(**source, *processor->processor, &sender, options);
  sender.stop();
  run.artifacts()["stats"] = sender_json(sender.counts());
  run.artifacts()["stats_jsonl"] = (run.dir() / "stats.jsonl").string();
  if (options.save_annotated) run.artifacts()["outputs_dir"] = options.outputs_dir.string();
  run.artifacts()["source_failures"] = (*source)->failures();
  run.artifacts()["source_reconnects"] = (*source)->reconnects();
  const LlmProcessor* llm_processor = processor->llm;
  if (llm_processor) run.artifacts()["llm"] = llm::to_json(llm_processor->counts());
  if (!report) return std::unexpected(report.error());
  run.artifacts().update(to_json(*report));
  std::string figures = report->dropped > 0 ? std::to_string(report->dropped) + " frames dropped" : "";
  if (report->frames_without_boxes > 0) {
    figures += (figures.empty() ? "" : ", ") + std::to_string(report->frames_without_boxes) +
               " frames without boxes (the server sent counts only)";
  }
  if (llm_processor) {
    const auto counts = llm_processor->counts();
    figures += (figures.empty() ? "" : ", ") + std::to_string(counts.requests) + " LLM requests, " +
               std::to_string(report->skipped) + " frames skipped";
    // Every frame sent failed: the endpoint, the key or the model is wrong, not one frame.
    if (report->frames == 0 && report->failed_frames > 0 && !report->interrupted) {
      return fail(ErrorCode::runtime, "no frame was answered, every request failed (" + failure_reasons(counts) +
                                          "); the log names each frame's error");
    }
  }
  print_summary({.command = "deploy edge",
                 .images = report->frames,
                 .unit = "frames",
                 .unreadable = (*source)->failures() + report->failed_frames,
                 .boxes_per_class = report->detections_per_class,
                 .seconds = report->elapsed_sec,
                 .outputs = options.outputs_dir,
                 .figures = figures});
  return {};
}

}  // namespace

// vision val: ONNX models through the inference engine, checkpoints through the trainer.
Expected<void> validate_model(Run& run) {
  const Config& c = run.config();
  const std::filesystem::path model = run.artifacts()["model"].get<std::string>();
  if (model.extension() != ".onnx") {
#ifdef VISION_WITH_TRAINING
    return validate_checkpoint_model(run);
#else
    return fail(ErrorCode::not_in_build, "val: checkpoints (" + model.filename().string() +
                                             ") need the trainer, which this build leaves out; pass an ONNX model");
#endif
  }
  ValidateOptions options = default_validate_options();
  options.dataset.dir = c.path("data.yolo_dataset_dir");
  options.dataset.class_names = c.class_names();
  options.detector.model_path = model;
  options.batch = static_cast<int>(std::min<std::int64_t>(c.integer("train.batch_size"), 32));
  std::optional<Progress> progress;
  auto metrics = validate_onnx(options, [&](std::int64_t done, std::int64_t total) {
    if (!progress) progress.emplace("val", total, "img");
    progress->update(done);
  });
  progress.reset();
  if (!metrics) return std::unexpected(metrics.error());
  report_val_metrics(run, *metrics);
  return {};
}

void report_val_metrics(Run& run, const DetectionMetrics& metrics) {
  std::printf("%s", format_metrics_table(metrics).c_str());
  std::map<std::string, std::int64_t> instances;
  for (const auto& c : metrics.per_class) instances[c.name] = c.instances;
  char figures[96];
  std::snprintf(figures, sizeof figures, "P %.3f R %.3f mAP50 %.3f mAP50-95 %.3f", metrics.precision, metrics.recall,
                metrics.map50, metrics.map50_95);
  print_summary({.command = "val",
                 .images = metrics.images,
                 .boxes_per_class = instances,
                 .boxes_word = "instances",
                 .seconds = run.elapsed_ms() / 1000,
                 .figures = figures});
  run.artifacts()["metrics"] = to_json(metrics);
  run.artifacts()["map50"] = metrics.map50;
  run.artifacts()["map50_95"] = metrics.map50_95;
}

Expected<void> deploy_remote(Run& run, bool insecure) {
  const Config& c = run.config();
  InferenceServerOptions options;
  options.host = c.string("deploy.remote.listen_host");
  options.port = static_cast<int>(c.integer("deploy.remote.listen_port"));
  options.workers = static_cast<int>(c.integer("deploy.remote.workers"));
  options.detector.model_path = c.path("deploy.remote.model");
  options.detector.confidence = static_cast<float>(c.number("deploy.remote.confidence"));
  options.detector.class_names = c.class_names();
  options.ingest_api_key = c.string("deploy.remote.ingest_api_key");
  options.insecure = insecure;
  options.max_payload_mb = c.number("deploy.remote.max_payload_mb");
  options.max_image_pixels = c.integer("deploy.remote.max_image_pixels");
  options.max_inflight = static_cast<int>(c.integer("deploy.remote.max_inflight"));
  options.save_annotated = c.boolean("deploy.remote.save_annotated");
  options.outputs_dir = options.save_annotated ? run.outputs_dir() : std::filesystem::path();
  options.run_id = run.id();

  StatsSender sender = make_sender(run, "deploy.remote", c.string("deploy.remote.stats_endpoint"));
  if (auto ok = sender.start(); !ok) return ok;
  InferenceServer server(options, &sender);
  if (auto ok = server.start(); !ok) return ok;
  const std::string url = "http://" + options.host + ":" + std::to_string(server.port());
  run.artifacts()["url"] = url;
  run.artifacts()["listen_port"] = server.port();
  run.artifacts()["model"] = options.detector.model_path.string();
  // Scripts and tests find the port (listen_port = 0 picks one) in artifacts.json at once.
  if (auto ok = run.write_results(RunStatus::running, ""); !ok) return ok;
  log::info("deploy.remote.listening", "inference server on " + url + " (POST /api/v1/frame, KServe v2 under /v2)",
            {{"url", url}});
  while (interrupt::sleep_for(std::chrono::milliseconds(500))) {
  }
  server.stop();
  sender.stop();
  const auto counts = server.counts();
  run.artifacts()["frames_processed"] = counts.frames_processed;
  run.artifacts()["detections_total"] = counts.detections_total;
  run.artifacts()["annotated_saved"] = counts.annotated_saved;
  run.artifacts()["rejected"] = counts.rejected;
  run.artifacts()["failed"] = counts.failed;
  run.artifacts()["stats"] = sender_json(sender.counts());
  return {};
}

void register_backends() {
  autolabelers().add("model", autolabel_with_model);
  autolabelers().add("llm", autolabel_with_llm);
  evaluators().add("yolo", validate_model);
  // The model file says what it is (ONNX layout, checkpoint format): val reads any of them.
  evaluators().add("faster_rcnn", validate_model);
  edge_modes().add("local", deploy_edge);
  edge_modes().add("stream", deploy_edge);
  edge_modes().add("llm", deploy_edge);
#ifdef VISION_WITH_TRAINING
  register_training_backends();
#endif
}

}  // namespace vision::cli
