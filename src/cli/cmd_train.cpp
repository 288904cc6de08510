// `vision train`, `vision val` and `vision export`: bind flags to config keys, check the inputs,
// hand the run to the backend registered for train.backend.
#include <fstream>
#include <iterator>

#include "common.hpp"
#include "scopes.hpp"
#include "vision/core/log.hpp"
#include "vision/data/yolo_dataset.hpp"
#ifdef VISION_WITH_TRAINING
#include "vision/train/distributed.hpp"
#endif

namespace vision::cli {

namespace {

struct TrainOptions {
  CommonOptions common;
  std::optional<std::string> backend, epochs, batch_size, img_size, device, weights, data;
  bool dry_run = false;
  std::string model;  // val / export: checkpoint or ONNX file
  // train: the data-parallel launcher (torchrun's flags)
  int nproc_per_node = 1, nnodes = 1, node_rank = 0, master_port = 29500;
  std::string master_addr = "127.0.0.1";
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

#ifdef VISION_WITH_TRAINING
// This process's argv, as the ranks re-execute it.
std::vector<std::string> command_line() {
  std::ifstream file("/proc/self/cmdline", std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  std::vector<std::string> argv;
  for (std::size_t start = 0; start < text.size();) {
    const auto end = text.find('\0', start);
    argv.push_back(text.substr(start, end - start));
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return argv;
}

// --nproc-per-node N (or --nnodes M): this process starts the machine's ranks, each this command
// without the launcher's flags and with torchrun's variables, and waits for them; a failed rank
// is named and its own exit code (128 + N when signal N killed it) is the launcher's.
int launch_ranks(const TrainOptions& options) {
  train::LocalLaunchOptions launch;
  launch.rendezvous = {options.nnodes, options.node_rank, options.nproc_per_node, options.master_addr,
                       options.master_port};
  launch.arguments = train::strip_launcher_flags(command_line());
  auto done = train::launch_local_ranks(launch);
  if (!done) return report_error(done.error());
  if (done->exit_code != 0) report_error({ErrorCode::runtime, done->failure});
  return done->exit_code;
}

// A rank other than 0 (torchrun's RANK) runs as <run_name>-rank<N> and every line it logs
// carries its "rank"; rank 0 and a plain training keep the run name and their lines.
Expected<void> name_rank_run(CommonOptions& options) {
  auto settings = train::distributed_settings_from_env();
  if (!settings) return std::unexpected(settings.error());
  if (settings->rank == 0) return {};
  Logger::global().set_context({{"rank", settings->rank}});
  auto scopes = scopes_for_command("train");
  if (!scopes) return std::unexpected(scopes.error());
  auto config = load_config(options, *scopes);
  if (!config) return fail(ErrorCode::config, "rank " + std::to_string(settings->rank) + ": the config does not load");
  options.overrides.push_back("workspace.run_name=" + rank_run_name(config->string("workspace.run_name"), settings->rank));
  return {};
}
#endif

int run_train(TrainOptions options) {
  bind(options);
#ifdef VISION_WITH_TRAINING
  if (options.nproc_per_node > 1 || options.nnodes > 1) return launch_ranks(options);
  if (auto named = name_rank_run(options.common); !named) return report_error(named.error());
#endif
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

// With no YOLO data set, `vision val` on a checkpoint may read the flat LabelRecord folder
// data.labeled_dir, as the faster_rcnn trainer does; the checkpoint's kind decides later
// (a YOLO one is an error naming data.yolo_dataset_dir). ONNX models validate on YOLO sets only.
bool validates_on_labeled_dir(const Config& c, const std::filesystem::path& model) {
  std::error_code ec;
  return model.extension() != ".onnx" && faster_rcnn_data_dir(c) != c.path("data.yolo_dataset_dir") &&
         std::filesystem::is_directory(c.path("data.labeled_dir"), ec);
}

// val and export both start from a model file and differ in their registry.
int run_from_model(TrainOptions options, const std::string& mode, Registry<Backend>& registry) {
  bind(options);
  const std::string model = options.model;
  return run_command(options.common, mode, [mode](const Config& c) { return spec(mode, c); },
                     [model, mode](const Config& c) -> Expected<void> {
                       if (auto ok = require_path(model, "--model", false); !ok) return ok;
                       if (mode != "val" || validates_on_labeled_dir(c, model)) return {};
                       return require_dataset(c.path("data.yolo_dataset_dir"));
                     },
                     [model, mode, &registry](Run& run) -> Expected<void> {
                       const Config& c = run.config();
                       run.artifacts()["model"] = std::filesystem::absolute(model).string();
                       if (mode == "val" && !validates_on_labeled_dir(c, model)) {
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
  train->add_option("--nproc-per-node", train_options->nproc_per_node, "data-parallel ranks to start on this machine")
      ->capture_default_str();
  train->add_option("--nnodes", train_options->nnodes, "machines in a data-parallel training")->capture_default_str();
  train->add_option("--node-rank", train_options->node_rank, "this machine's index among --nnodes (0 hosts the master)")
      ->capture_default_str();
  train->add_option("--master-addr", train_options->master_addr, "address of machine 0 (the rendezvous)")
      ->capture_default_str();
  train->add_option("--master-port", train_options->master_port, "port of the rendezvous on machine 0")
      ->capture_default_str();
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
