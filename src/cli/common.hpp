// What every subcommand shares: --config / --workdir / --set, config loading with the exit-2
// contract, and the backend registries. Private to src/cli.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "vision/core/config.hpp"
#include "vision/core/registry.hpp"
#include "vision/core/run.hpp"
#include "vision/eval/detection_metrics.hpp"
#include "vision/llm/llm_client.hpp"

namespace vision::cli {

struct CommonOptions {
  std::string config_file;
  std::string workdir;
  std::vector<std::string> overrides;
};

// Registered on every subcommand so they read the same wherever they are typed.
void add_common_options(CLI::App& command, CommonOptions& options);

// The config file to use: --config, $VISION_CONFIG, <--workdir>/config.toml, ./work-dir/config.toml
// (when present), else none (built-in defaults).
std::filesystem::path choose_config_file(const CommonOptions& options);

// Loads and checks the config for `scopes` (see vision::validate). On failure prints the error
// and returns nullopt; the caller exits with code 2.
std::optional<Config> load_config(const CommonOptions& options,
                                  const std::vector<std::string>& scopes);

// What a command checks before it starts a run (its model and input files exist and can be
// read): a failure is a usage error, exit 2, and leaves no run folder behind.
using InputCheck = std::function<Expected<void>(const Config&)>;

// Loads the config for `command` (scopes from scopes.hpp), checks the inputs, then runs `body`
// through the run lifecycle. `spec_for` picks the RunSpec once the config is known (e.g. the
// backend name).
int run_command(const CommonOptions& options, const std::string& command,
                const std::function<RunSpec(const Config&)>& spec_for, const InputCheck& check_inputs,
                const std::function<Expected<void>(Run&)>& body);

// The closing line of a predict, autolabel, val or deploy edge run, as Ultralytics prints one:
// "predict: 24 images (1 unreadable) in 0.8 s, 31.2 images/s; 48 boxes: circle 12, …; saved to …".
struct RunSummary {
  std::string command;  // "predict"
  std::int64_t images = 0;
  std::string unit = "images";  // or "frames"
  std::int64_t unreadable = 0;
  std::map<std::string, std::int64_t> boxes_per_class;
  std::string boxes_word = "boxes";  // val counts "instances" (ground truth)
  double seconds = 0;
  std::filesystem::path outputs;  // empty when nothing was written
  std::string figures;            // what else the command measured, e.g. "mAP50 0.61"
};
void print_summary(const RunSummary& summary);

// Appends `--set key=value` for a flag that is sugar over a config key.
void set_if(CommonOptions& options, const std::string& key, const std::optional<std::string>& value);

// A data-parallel rank other than 0 runs as <run_name>-rank<N>, so its run folder (its log and
// error) never takes rank 0's run id; job_run_name gives the job's run name back.
std::string rank_run_name(const std::string& run_name, int rank);
std::string job_run_name(const std::string& run_name, int rank);

// Prints a config or usage error the same way everywhere and returns its exit code.
int report_error(const Error& error);

// Fails with ErrorCode::not_found unless `path` names an existing, readable file (or folder
// when `folder` is true). `what` says which setting it came from.
Expected<void> require_path(const std::filesystem::path& path, const std::string& what, bool folder);

// The LLM client's options from an [autolabel.llm] or [deploy.edge.llm] `section` (the two
// are kept symmetric), with the classes from class_map.names and the run's `confidence`.
llm::LlmClientOptions llm_client_options(const Config& config, const std::string& section, double confidence);
// Fails (ErrorCode::config, exit 2) when `section`.api_key_env names an unset or empty variable:
// checked before a run reads or sends anything.
Expected<void> require_llm_api_key(const Config& config, const std::string& section);

// The folder the faster_rcnn backend reads its samples from: data.yolo_dataset_dir when it holds
// a YOLO data set, else data.labeled_dir (the Python original's flat LabelRecord folder).
std::filesystem::path faster_rcnn_data_dir(const Config& config);

// This vision binary's path, for commands that start another vision process.
std::filesystem::path vision_executable();

// Subcommand actions run after parsing; each returns the exit code.
using Action = std::function<int()>;

// Backends that run inside a Run. cli/backends.cpp fills these; commands look names up here.
using Backend = std::function<Expected<void>(Run&)>;
Registry<Backend>& trainers();
Registry<Backend>& autolabelers();
Registry<Backend>& edge_modes();
Registry<Backend>& evaluators();
Registry<Backend>& exporters();

// Fills the registries above with the backends of this build (backends.cpp).
void register_backends();
// `vision val`'s output: the metrics table on stdout, the figures in artifacts (backends.cpp).
void report_val_metrics(Run& run, const DetectionMetrics& metrics);
// The trainer's backends (train_backend.cpp, VISION_WITH_TRAINING builds only): train "yolo"
// and "faster_rcnn", and `vision val` on a checkpoint of either.
void register_training_backends();
Expected<void> validate_checkpoint_model(Run& run);
// The body of `vision deploy remote` (backends.cpp); `insecure` is its --insecure flag.
Expected<void> deploy_remote(Run& run, bool insecure);

void add_init_command(CLI::App& app, Action& action);
void add_config_command(CLI::App& app, Action& action);
void add_train_commands(CLI::App& app, Action& action);
void add_predict_command(CLI::App& app, Action& action);
void add_autolabel_command(CLI::App& app, Action& action);
void add_labels_command(CLI::App& app, Action& action);
void add_deploy_command(CLI::App& app, Action& action);
void add_stats_command(CLI::App& app, Action& action);
void add_demo_command(CLI::App& app, Action& action);
void add_datagen_command(CLI::App& app, Action& action);

// The annotated example config, embedded at build time from work-dir/config.example.toml.
const char* example_config_toml();

}  // namespace vision::cli
