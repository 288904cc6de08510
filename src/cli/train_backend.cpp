// The training backends of this build (VISION_WITH_TRAINING): `vision train` with backend
// "yolo" or "faster_rcnn" and `vision val` on a checkpoint. Binds config keys to the trainers'
// options structs.
#include <sys/resource.h>

#include <cstdio>
#include <format>
#include <thread>

#include "common.hpp"
#include "vision/core/log.hpp"
#include "vision/data/detection_samples.hpp"
#include "vision/eval/validate.hpp"
#include "vision/export/model_export.hpp"
#include "vision/train/distributed.hpp"
#include "vision/train/faster_rcnn/weights.hpp"
#include "vision/train/faster_rcnn_trainer.hpp"
#include "vision/train/trainer.hpp"

namespace vision::cli {

namespace {

DatasetOptions dataset_options(const Config& c) {
  DatasetOptions options;
  options.dir = c.path("data.yolo_dataset_dir");
  options.class_names = c.class_names();
  options.strictness = c.boolean("train.yolo.strict_labels") ? LabelStrictness::strict : LabelStrictness::lenient;
  return options;
}

// The samples a checkpoint is validated on. A Faster R-CNN weight file, whatever train.backend
// says, reads what its trainer read: the YOLO data set when there is one, else the LabelRecord
// folder data.labeled_dir, split by autolabel.val_fraction (into val_fraction).
DatasetOptions checkpoint_dataset_options(const Config& c, const std::filesystem::path& checkpoint,
                                          double& val_fraction) {
  DatasetOptions options = dataset_options(c);
  if (train::faster_rcnn::read_weights_meta(checkpoint)) {
    options.dir = faster_rcnn_data_dir(c);
    val_fraction = c.number("autolabel.val_fraction");
  }
  return options;
}

// <section>.resume = true (section train.yolo or train.faster_rcnn) continues the newest last.pt
// of this run name, or the last.pt given as <section>.weights.
Expected<std::filesystem::path> resume_checkpoint(const Config& c, const std::string& section) {
  const auto weights = c.path(section + ".weights");
  if (!weights.empty()) {
    if (weights.filename() != "last.pt") {
      return fail(ErrorCode::config, section + ".resume = true needs a last.pt; " + section + ".weights = " + weights.string());
    }
    return weights;
  }
  const auto models = c.path("workspace.root") / "models";
  auto rank = train::distributed_settings_from_env();
  const auto prefix = job_run_name(c.string("workspace.run_name"), rank ? rank->rank : 0) + "-";
  std::filesystem::path newest;
  std::filesystem::file_time_type newest_time{};
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(models, ec)) {
    const auto candidate = entry.path() / "last.pt";
    if (!entry.path().filename().string().starts_with(prefix) || !std::filesystem::is_regular_file(candidate)) continue;
    const auto time = std::filesystem::last_write_time(candidate);
    if (newest.empty() || time > newest_time) {
      newest = candidate;
      newest_time = time;
    }
  }
  if (newest.empty()) {
    return fail(ErrorCode::not_found, section + ".resume = true: no " + models.string() + "/" + prefix + "*/last.pt to resume from");
  }
  return newest;
}

ModelExportOptions export_options(const Run& run, const std::filesystem::path& checkpoint) {
  const Config& c = run.config();
  ModelExportOptions o;
  o.checkpoint = checkpoint;
  o.output_dir = run.models_dir();
  o.run_id = run.id();
  o.dataset = checkpoint_dataset_options(c, checkpoint, o.val_fraction);
  o.onnx = c.boolean("export.onnx");
  o.quantize = c.boolean("export.quantize");
  o.quantize_mode = c.string("export.quantize_mode") == "static" ? QuantizeMode::static_qdq : QuantizeMode::dynamic;
  o.opset = static_cast<int>(c.integer("export.opset"));
  o.calib_samples = static_cast<int>(c.integer("export.calib_samples"));
  o.seed = static_cast<std::uint64_t>(c.integer("train.seed"));
  o.threads = static_cast<int>(c.integer("train.threads"));
  return o;
}

// The Python original wrote models to models/<run_name>/, and its configs still point there
// (./work-dir/models/exp001/model-int8.onnx): models/<run_name> is kept as a link to the newest
// exported run of that name, replaced atomically. A real folder of that name is left alone.
void link_latest_models(const Run& run) {
  const Config& c = run.config();
  const auto models = c.root() / "models";
  const auto link = models / c.string("workspace.run_name");
  std::error_code ec;
  if (std::filesystem::exists(link, ec) && !std::filesystem::is_symlink(link, ec)) {
    log::info("export.latest_link.skipped", link.string() + " is a folder, not Vision's link to the newest models; left as it is");
    return;
  }
  const auto temporary = models / ("." + link.filename().string() + ".link");
  std::filesystem::remove(temporary, ec);
  std::filesystem::create_directory_symlink(run.models_dir().filename(), temporary, ec);
  if (!ec) std::filesystem::rename(temporary, link, ec);
  if (ec) log::warn("export.latest_link.failed", "cannot point " + link.string() + " at the newest models: " + ec.message());
}

// Exports best.pt; the run's artifacts get the report and the seed's model_path keys. A failure
// keeps the checkpoints and the training figures already in artifacts.
Expected<void> export_into(Run& run, const ModelExportOptions& options) {
  run.artifacts()["model_path"] = nullptr;
  run.artifacts()["model_int8_path"] = nullptr;
  if (!options.onnx) {
    log::info("train.export.skipped", "export.onnx = false: no ONNX files written");
    return {};
  }
  auto report = export_model(options);
  if (!report) {
    run.artifacts()["export"] = {{"error", report.error().message}};
    return std::unexpected(report.error());
  }
  run.artifacts()["export"] = to_json(*report);
  link_latest_models(run);
  run.artifacts()["model_path"] = report->fp32.path.string();
  if (!report->int8.path.empty()) run.artifacts()["model_int8_path"] = report->int8.path.string();
  const auto megabytes = [](const ModelFileReport& f) { return std::format("{} ({:.1f} MB)", f.path.string(), static_cast<double>(f.size_bytes) / 1e6); };
  log::info("export.done", "exported " + megabytes(report->fp32) + (report->int8.path.empty() ? "" : " and " + megabytes(report->int8)));
  return {};
}

std::string epochs_text(int n) { return std::to_string(n) + (n == 1 ? " epoch" : " epochs"); }

// Ctrl+C or SIGTERM during a training: what finished, where it is, and how to go on.
// `resume_flags` are the options that continue it.
template <typename Report>
Expected<void> interrupted_training(Run& run, const Report& report, const std::string& resume_flags) {
  std::string message = "training stopped in epoch " + std::to_string(report.interrupted_in_epoch) + " after " +
                        epochs_text(report.epochs_trained) + " finished";
  if (report.last_pt.empty()) {
    message += "; no checkpoint was written yet, so there is nothing to resume";
  } else {
    message += "; checkpoints: " + report.last_pt.string() +
               (report.best_pt.empty() ? "" : " and " + report.best_pt.string()) +
               "; resume with: vision train --config " + (run.dir() / "config.resolved.toml").string() + " " +
               resume_flags;
  }
  return fail(ErrorCode::interrupted, message);
}

// peak_rss_mb and dry_run: the figures every backend's training adds to artifacts.
void report_training_run(Run& run, bool dry_run) {
  run.artifacts()["dry_run"] = dry_run;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  run.artifacts()["peak_rss_mb"] = static_cast<double>(usage.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

// A training's result stands whatever its export does: an export that fails (or throws) ends
// the run as export_failed (exit 4) with the command that retries it, and the checkpoints stay.
Expected<void> export_after_training(Run& run, const ModelExportOptions& options) {
  Expected<void> exported;
  try {
    exported = export_into(run, options);
  } catch (const VisionError& e) {
    exported = std::unexpected(e.error());
  } catch (const std::exception& e) {
    exported = fail(ErrorCode::runtime, e.what());
  }
  if (exported || exported.error().code == ErrorCode::interrupted) return exported;
  if (!run.artifacts().contains("export")) run.artifacts()["export"] = {{"error", exported.error().message}};
  const auto config = run.dir() / "config.resolved.toml";
  return fail(ErrorCode::export_failed,
              "training finished and kept " + options.checkpoint.string() + ", but its export failed: " +
                  exported.error().message + "; retry the export with: vision export --config " + config.string() +
                  " --model " + options.checkpoint.string());
}

// Data parallel by torchrun's variables (set by --nproc-per-node or a launcher), for either
// backend: the timeout, SyncBatchNorm, and each rank's share of the machine's cores unless
// train.threads says. True on rank 0 (or alone), which alone gets the models folder: the other
// ranks write no models, results or export.
Expected<bool> set_distributed(const Run& run, train::DataParallelOptions& o, int& threads,
                               std::filesystem::path& models_dir) {
  const Config& c = run.config();
  auto settings = train::distributed_settings_from_env();
  if (!settings) return std::unexpected(settings.error());
  o.settings = *settings;
  o.timeout_s = static_cast<int>(c.integer("train.distributed.timeout_s"));
  o.sync_bn = c.boolean("train.distributed.sync_bn");
  if (o.settings.distributed() && threads == 0) {
    threads = train::threads_per_rank(static_cast<int>(std::thread::hardware_concurrency()), settings->local_world_size);
  }
  if (o.settings.rank != 0) return false;
  models_dir = run.models_dir();
  return true;
}

// A rank other than 0 ends an interrupted training without the resume hint: rank 0 holds the
// checkpoints.
Expected<void> rank_interrupted(const train::DistributedSettings& settings, int epoch) {
  return fail(ErrorCode::interrupted,
              std::format("rank {} stopped with the others in epoch {}; rank 0 holds the checkpoints", settings.rank, epoch));
}

Expected<void> train_yolo_backend(Run& run) {
  const Config& c = run.config();
  YoloTrainOptions o;
  o.dataset = dataset_options(c);
  o.run_dir = run.dir();
  o.run_id = run.id();
  o.scale = c.string("train.yolo.model_scale").at(0);
  o.device = c.string("train.device");
  o.seed = static_cast<std::uint64_t>(c.integer("train.seed"));
  o.deterministic = c.boolean("train.yolo.deterministic");
  o.epochs = static_cast<int>(c.integer("train.epochs"));
  o.batch_size = static_cast<int>(c.integer("train.batch_size"));
  o.img_size = static_cast<int>(c.integer("train.img_size"));
  o.threads = static_cast<int>(c.integer("train.threads"));
  o.workers = static_cast<int>(c.integer("train.yolo.workers"));
  o.precision = c.string("train.yolo.precision");
  o.dry_run = c.boolean("train.dry_run");
  o.optimizer = c.string("train.yolo.optimizer");
  o.lr0 = c.number("train.yolo.lr0");
  o.lrf = c.number("train.yolo.lrf");
  o.momentum = c.number("train.yolo.momentum");
  o.weight_decay = c.number("train.yolo.weight_decay");
  o.warmup_epochs = c.number("train.yolo.warmup_epochs");
  o.warmup_bias_lr = c.number("train.yolo.warmup_bias_lr");
  o.cos_lr = c.boolean("train.yolo.cos_lr");
  o.nbs = static_cast<int>(c.integer("train.yolo.nbs"));
  o.box = c.number("train.yolo.box");
  o.cls = c.number("train.yolo.cls");
  o.dfl = c.number("train.yolo.dfl");
  o.ema = c.boolean("train.yolo.ema");
  o.grad_clip = c.number("train.yolo.grad_clip");
  o.patience = static_cast<int>(c.integer("train.yolo.patience"));
  o.close_mosaic = static_cast<int>(c.integer("train.yolo.close_mosaic"));
  o.mosaic = c.number("train.yolo.mosaic");
  o.hsv_h = c.number("train.yolo.hsv_h");
  o.hsv_s = c.number("train.yolo.hsv_s");
  o.hsv_v = c.number("train.yolo.hsv_v");
  o.translate = c.number("train.yolo.translate");
  o.scale_gain = c.number("train.yolo.scale");
  o.fliplr = c.number("train.yolo.fliplr");
  auto rank0 = set_distributed(run, o.data_parallel, o.threads, o.models_dir);
  if (!rank0) return std::unexpected(rank0.error());
  const bool writes = *rank0;
  if (c.boolean("train.yolo.resume")) {
    auto checkpoint = resume_checkpoint(c, "train.yolo");
    if (!checkpoint) return std::unexpected(checkpoint.error());
    o.resume_from = *checkpoint;
  } else {
    o.weights = c.path("train.yolo.weights");
  }
  log::info("train.start", "training " + std::string(1, o.scale) + " at " + std::to_string(o.img_size) + " px for " +
                               epochs_text(o.epochs) + (o.dry_run ? " (dry run)" : ""));
  auto report = train_yolo(o);
  if (!report) return std::unexpected(report.error());
  run.artifacts().update(to_json(*report));
  if (report->interrupted_in_epoch > 0 && !writes) return rank_interrupted(o.data_parallel.settings, report->interrupted_in_epoch);
  if (report->interrupted_in_epoch > 0) {
    return interrupted_training(run, *report, "--set train.yolo.resume=true --weights " + report->last_pt.string());
  }
  if (!writes) return {};
  report_training_run(run, o.dry_run);
  auto exported = export_options(run, report->best_pt);
  exported.evaluate = !o.dry_run;
  return export_after_training(run, exported);
}

Expected<void> train_faster_rcnn_backend(Run& run) {
  const Config& c = run.config();
  FasterRcnnTrainOptions o;
  o.samples.dir = faster_rcnn_data_dir(c);
  o.samples.class_names = c.class_names();
  o.samples.strictness = c.boolean("train.yolo.strict_labels") ? LabelStrictness::strict : LabelStrictness::lenient;
  o.samples.val_fraction = c.number("autolabel.val_fraction");
  o.samples.max_samples = c.integer("train.faster_rcnn.max_samples");
  o.samples.seed = static_cast<std::uint64_t>(c.integer("train.seed"));
  o.run_dir = run.dir();
  o.run_id = run.id();
  o.variant = c.string("train.faster_rcnn.variant");
  o.device = c.string("train.device");
  o.seed = static_cast<std::uint64_t>(c.integer("train.seed"));
  o.epochs = static_cast<int>(c.integer("train.epochs"));
  o.batch_size = static_cast<int>(c.integer("train.batch_size"));
  o.img_size = static_cast<int>(c.integer("train.img_size"));
  o.threads = static_cast<int>(c.integer("train.threads"));
  o.workers = static_cast<int>(c.integer("train.faster_rcnn.num_workers"));
  o.dry_run = c.boolean("train.dry_run");
  o.lr = c.number("train.faster_rcnn.lr");
  o.momentum = c.number("train.faster_rcnn.momentum");
  o.weight_decay = c.number("train.faster_rcnn.weight_decay");
  o.patience = static_cast<int>(c.integer("train.faster_rcnn.patience"));
  auto rank0 = set_distributed(run, o.data_parallel, o.threads, o.models_dir);
  if (!rank0) return std::unexpected(rank0.error());
  const bool writes = *rank0;
  if (c.boolean("train.faster_rcnn.resume")) {
    auto checkpoint = resume_checkpoint(c, "train.faster_rcnn");
    if (!checkpoint) return std::unexpected(checkpoint.error());
    o.resume_from = *checkpoint;
  } else {
    o.weights = c.path("train.faster_rcnn.weights");
  }
  log::info("train.start", "training faster_rcnn " + o.variant + " at " + std::to_string(o.img_size) + " px for " +
                               epochs_text(o.epochs) + (o.dry_run ? " (dry run)" : ""));
  auto report = train_faster_rcnn(o);
  if (!report) return std::unexpected(report.error());
  run.artifacts().update(to_json(*report));
  if (report->interrupted_in_epoch > 0 && !writes) return rank_interrupted(o.data_parallel.settings, report->interrupted_in_epoch);
  if (report->interrupted_in_epoch > 0) {
    return interrupted_training(run, *report, "--set train.faster_rcnn.resume=true --set train.faster_rcnn.weights=" +
                                                  report->last_pt.string());
  }
  if (!writes) return {};
  report_training_run(run, o.dry_run);
  auto exported = export_options(run, report->best_pt);
  exported.evaluate = !o.dry_run;
  return export_after_training(run, exported);
}

Expected<void> export_checkpoint_backend(Run& run) {
  return export_into(run, export_options(run, run.artifacts()["model"].get<std::string>()));
}

}  // namespace

Expected<void> validate_checkpoint_model(Run& run) {
  const Config& c = run.config();
  CheckpointValOptions options;
  options.checkpoint = run.artifacts()["model"].get<std::string>();
  options.dataset = checkpoint_dataset_options(c, options.checkpoint, options.val_fraction);
  if (!holds_yolo_dataset(options.dataset.dir) && !train::faster_rcnn::read_weights_meta(options.checkpoint)) {
    return fail(ErrorCode::not_found, "data.yolo_dataset_dir: " + c.path("data.yolo_dataset_dir").string() +
                                          " holds no YOLO data set; " + options.checkpoint.filename().string() +
                                          " is a YOLO checkpoint (only Faster R-CNN ones read data.labeled_dir)");
  }
  options.batch_size = static_cast<int>(std::min<std::int64_t>(c.integer("train.batch_size"), 32));
  options.threads = static_cast<int>(c.integer("train.threads"));
  options.device = c.string("train.device");
  auto metrics = validate_checkpoint(options);
  if (!metrics) return std::unexpected(metrics.error());
  report_val_metrics(run, *metrics);
  return {};
}

void register_training_backends() {
  trainers().add("yolo", train_yolo_backend);
  trainers().add("faster_rcnn", train_faster_rcnn_backend);
  // export_model tells the two kinds of checkpoint apart by the file, so one exporter serves both.
  exporters().add("yolo", export_checkpoint_backend);
  exporters().add("faster_rcnn", export_checkpoint_backend);
}

}  // namespace vision::cli
