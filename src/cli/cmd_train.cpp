// `vision train`, `vision val` and `vision export`: bind flags to config keys, check the inputs,
// hand the run to the backend registered for train.backend.
#include "common.hpp"
#include "vision/core/log.hpp"
#include "vision/data/yolo_dataset.hpp"

namespace vision::cli {

namespace {

struct TrainOptions {
  CommonOptions common;
  std::optional<std::string> backend, epochs, batch_size, img_size, device, weights, data;
  bool dry_run = false;
  std::string model;  // val / export: checkpoint or ONNX file
};

void add_train_flags(CLI::App& command, TrainOptions& options) {
  command.add_option("--backend", options.backend, "train.backend (yolo|faster_rcnn)");
  command.add_option("--epochs", options.epochs, "train.epochs");
  command.add_option("--batch-size", options.batch_size, "train.batch_size");
  command.add_option("--img-size", options.img_size, "train.img_size (multiple of 32)");
  command.add_option("--device", options.device, "train.device (cpu|cuda|cuda:N|N|mps)");
}

void bind(TrainOptions& o) {
  set_if(o.common, "train.backend", o.backend);
  set_if(o.common, "train.epochs", o.epochs);
  set_if(o.common, "train.batch_size", o.batch_size);
  set_if(o.common, "train.img_size", o.img_size);
  set_if(o.common, "train.device", o.device);
  set_if(o.common, "train.yolo.weights", o.weights);
  set_if(o.common, "data.yolo_dataset_dir", o.data);
  if (o.dry_run) o.common.overrides.push_back("train.dry_run=true");
}

// Reads the whole data set (yaml, splits, every label line) before any backend starts, so a
// bad data set fails in seconds with file:line, and artifacts carry the dataset summary.
Expected<void> check_dataset(Run& run) {
  const Config& c = run.config();
  DatasetOptions options;
  options.dir = c.path("data.yolo_dataset_dir");
  options.class_names = c.class_names();
  options.strictness = c.boolean("train.yolo.strict_labels") ? LabelStrictness::strict : LabelStrictness::lenient;
  auto dataset = load_yolo_dataset(options);
  if (!dataset) return std::unexpected(dataset.error());
  run.artifacts()["dataset"] = summarize(*dataset);
  for (const auto& problem : dataset->problems) log::warn("data.label_skipped", problem);
  for (const auto& warning : unlabeled_warnings(*dataset)) log::warn("data.unlabeled", warning);
  log::info("data.ok", "data set: " + std::to_string(dataset->train.size()) + " train / " +
                           std::to_string(dataset->val.size()) + " val images",
            {{"train_images", dataset->train.size()}, {"val_images", dataset->val.size()}});
  return {};
}

// data.yolo_dataset_dir names the data set's folder or, as Ultralytics' `data=` does, its yaml.
Expected<void> require_dataset(const std::filesystem::path& path) {
  const auto extension = path.extension();
  std::error_code ec;
  if ((extension == ".yaml" || extension == ".yml") && std::filesystem::is_regular_file(path, ec)) return {};
  if (std::filesystem::is_regular_file(path, ec)) {
    return fail(ErrorCode::not_found, "data.yolo_dataset_dir: " + path.string() +
                                          " is a file; give the data set's folder or its dataset.yaml");
  }
  return require_path(path, "data.yolo_dataset_dir", true);
}

// Builds made with VISION_WITH_TRAINING=OFF (edge devices) carry no LibTorch.
Expected<void> require_training_build() {
#ifdef VISION_WITH_TRAINING
  return {};
#else
  return fail(ErrorCode::not_in_build, "this build of vision has no trainer (configured with VISION_WITH_TRAINING=OFF)");
#endif
}

bool is_faster_rcnn(const Config& config) { return config.string("train.backend") == "faster_rcnn"; }

RunSpec spec(const std::string& mode, const Config& config) {
  return {mode, "backend", config.string("train.backend")};
}

int run_train(TrainOptions options) {
  bind(options);
  return run_command(options.common, "train", [](const Config& c) { return spec("train", c); },
                     [](const Config& c) -> Expected<void> {
                       const auto section = "train." + c.string("train.backend");
                       if (is_faster_rcnn(c)) {
                         const auto dir = faster_rcnn_data_dir(c);
                         const bool yolo = dir == c.path("data.yolo_dataset_dir");
                         if (auto ok = yolo ? require_dataset(dir) : require_path(dir, "data.labeled_dir", true); !ok) return ok;
                       } else if (auto ok = require_dataset(c.path("data.yolo_dataset_dir")); !ok) {
                         return ok;
                       }
                       const auto weights = c.path(section + ".weights");
                       return weights.empty() ? Expected<void>{} : require_path(weights, section + ".weights", false);
                     },
                     [](Run& run) -> Expected<void> {
                       const Config& c = run.config();
                       // faster_rcnn on a flat LabelRecord folder has no YOLO data set to check.
                       if (!is_faster_rcnn(c) || faster_rcnn_data_dir(c) == c.path("data.yolo_dataset_dir")) {
                         if (auto ok = check_dataset(run); !ok) return ok;
                       }
                       if (auto ok = require_training_build(); !ok) return ok;
                       auto backend = trainers().find(c.string("train.backend"));
                       if (!backend) return std::unexpected(backend.error());
                       return backend->get()(run);
                     });
}

// val and export both start from a model file and differ in their registry.
int run_from_model(TrainOptions options, const std::string& mode, Registry<Backend>& registry) {
  bind(options);
  const std::string model = options.model;
  return run_command(options.common, mode, [mode](const Config& c) { return spec(mode, c); },
                     [model, mode](const Config& c) -> Expected<void> {
                       if (auto ok = require_path(model, "--model", false); !ok) return ok;
                       return mode == "val" ? require_dataset(c.path("data.yolo_dataset_dir")) : Expected<void>{};
                     },
                     [model, mode, &registry](Run& run) -> Expected<void> {
                       const Config& c = run.config();
                       run.artifacts()["model"] = std::filesystem::absolute(model).string();
                       if (mode == "val") {
                         if (auto ok = check_dataset(run); !ok) return ok;
                       }
                       if (mode == "export" || !std::filesystem::path(model).extension().string().ends_with("onnx")) {
                         if (auto ok = require_training_build(); !ok) return ok;
                       }
                       auto backend = registry.find(c.string("train.backend"));
                       if (!backend) return std::unexpected(backend.error());
                       return backend->get()(run);
                     });
}

}  // namespace

void add_train_commands(CLI::App& app, Action& action) {
  auto train_options = std::make_shared<TrainOptions>();
  auto* train = app.add_subcommand("train", "Train a detector, validate it, export ONNX + INT8");
  add_common_options(*train, train_options->common);
  add_train_flags(*train, *train_options);
  train->add_option("--weights", train_options->weights, "train.yolo.weights (checkpoint or ONNX); backend faster_rcnn: --set train.faster_rcnn.weights=…");
  train->add_option("--data", train_options->data, "data.yolo_dataset_dir");
  train->add_flag("--dry-run", train_options->dry_run, "train.dry_run: one batch, then export");
  train->callback([&action, train_options] { action = [train_options] { return run_train(*train_options); }; });

  auto val_options = std::make_shared<TrainOptions>();
  auto* val = app.add_subcommand("val", "Evaluate a checkpoint or ONNX model on the val split");
  add_common_options(*val, val_options->common);
  val->add_option("--batch-size", val_options->batch_size, "train.batch_size (checkpoints; at most 32)");
  val->add_option("--device", val_options->device, "train.device for checkpoints (cpu|cuda|cuda:N|N)");
  val->add_option("--model", val_options->model, "best.pt, last.pt or model.onnx")->required();
  val->add_option("--data", val_options->data, "data.yolo_dataset_dir");
  val->callback([&action, val_options] {
    action = [val_options] { return run_from_model(*val_options, "val", evaluators()); };
  });

  auto export_options = std::make_shared<TrainOptions>();
  auto* exp = app.add_subcommand("export", "Export a checkpoint to ONNX and INT8");
  add_common_options(*exp, export_options->common);
  exp->add_option("--model", export_options->model, "checkpoint (best.pt or last.pt)")->required();
  exp->add_option("--data", export_options->data, "data.yolo_dataset_dir (calibration and val images)");
  exp->callback([&action, export_options] {
    action = [export_options] { return run_from_model(*export_options, "export", exporters()); };
  });
}

}  // namespace vision::cli
