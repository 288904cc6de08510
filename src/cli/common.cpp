#include "common.hpp"

#include <cstdio>
#include <cstdlib>
#include <format>
#include <fstream>

#include "scopes.hpp"
#include "vision/core/log.hpp"
#include "vision/data/detection_samples.hpp"
#include "vision/core/secrets.hpp"

namespace fs = std::filesystem;

namespace vision::cli {

void add_common_options(CLI::App& command, CommonOptions& options) {
  command.add_option("--config", options.config_file, "Config file (TOML)")
      ->envname("VISION_CONFIG");
  command.add_option("--workdir", options.workdir,
                     "Work-dir root; overrides workspace.root (relative to the current folder)")
      ->envname("VISION_WORKDIR");
  command.add_option("--set", options.overrides, "Override a config key: key.path=value (repeatable)")
      ->take_all()
      ->allow_extra_args(false);
}

fs::path choose_config_file(const CommonOptions& options) {
  if (!options.config_file.empty()) return options.config_file;
  std::error_code ec;
  if (!options.workdir.empty() && fs::is_regular_file(fs::path(options.workdir) / "config.toml", ec)) {
    return fs::path(options.workdir) / "config.toml";
  }
  if (fs::is_regular_file("work-dir/config.toml", ec)) return "work-dir/config.toml";
  return {};
}

llm::LlmClientOptions llm_client_options(const Config& c, const std::string& section, double confidence) {
  llm::LlmClientOptions options;
  options.base_url = c.string(section + ".base_url");
  options.model = c.string(section + ".model");
  options.api_key_env = c.string(section + ".api_key_env");
  options.prompt = c.string(section + ".prompt");
  options.timeout_sec = c.number(section + ".timeout_sec");
  options.max_retries = static_cast<int>(c.integer(section + ".max_retries"));
  options.retry_backoff_sec = c.number(section + ".retry_backoff_sec");
  options.qps_limit = c.number(section + ".qps_limit");
  options.max_image_side = static_cast<int>(c.integer(section + ".max_image_side"));
  options.bbox_2d_on_1000_grid = c.string(section + ".bbox_2d_scale") == "1000";
  for (auto& [alias, name] : c.string_map(section + ".class_aliases")) options.class_aliases[alias] = std::move(name);
  options.class_names = c.class_names();
  options.confidence = static_cast<float>(confidence);
  options.config_section = section;
  return options;
}

Expected<void> require_llm_api_key(const Config& c, const std::string& section) {
  auto key = llm::llm_api_key(c.string(section + ".api_key_env"), section + ".api_key_env");
  if (!key) return std::unexpected(key.error());
  return {};
}

int report_error(const Error& error) {
  std::fprintf(stderr, "vision: %s error: %s\n", error_code_name(error.code), error.message.c_str());
  return exit_code(error.code);
}

std::optional<Config> load_config(const CommonOptions& options,
                                  const std::vector<std::string>& scopes) {
  ConfigSources sources;
  sources.config_file = choose_config_file(options);
  if (!options.workdir.empty()) sources.workdir = options.workdir;
  // Secrets may come from the environment (VISION_DEPLOY_STATISTICS_API_KEY, …), so that no
  // command line or unit file has to carry them; --set still wins.
  for (const auto& key : secret_config_keys()) {
    if (const char* value = std::getenv(secret_env_name(key).c_str()); value != nullptr) {
      sources.overrides.push_back(key + "=" + value);
    }
  }
  sources.overrides.insert(sources.overrides.end(), options.overrides.begin(), options.overrides.end());
  auto config = Config::load(sources);
  if (!config) {
    report_error(config.error());
    return std::nullopt;
  }
  if (auto ok = validate(*config, scopes); !ok) {
    Error error = ok.error();
    if (sources.config_file.empty()) {
      // Built-in defaults only: most often a mistyped --workdir or a work-dir never initialised.
      const fs::path where = options.workdir.empty() ? fs::path("work-dir") : fs::path(options.workdir);
      error.message += " (no config.toml was found in " + where.string() + "; create one with `vision init --workdir " +
                       where.string() + "`, or pass --config)";
    }
    report_error(error);
    return std::nullopt;
  }
  return std::move(*config);
}

fs::path faster_rcnn_data_dir(const Config& config) {
  const auto yolo = config.path("data.yolo_dataset_dir");
  std::error_code ec;
  return !yolo.empty() && fs::exists(yolo, ec) && holds_yolo_dataset(yolo) ? yolo : config.path("data.labeled_dir");
}

Expected<void> require_path(const fs::path& path, const std::string& what, bool folder) {
  if (path.empty()) return fail(ErrorCode::not_found, what + " is not set");
  std::error_code ec;
  const bool ok = folder ? fs::is_directory(path, ec) : fs::is_regular_file(path, ec);
  if (!ok) {
    return fail(ErrorCode::not_found, what + ": " + (folder ? "folder" : "file") +
                                          " not found: " + path.string());
  }
  if (!folder && !std::ifstream(path, std::ios::binary)) {
    return fail(ErrorCode::io, what + ": cannot read " + path.string());
  }
  return {};
}

fs::path vision_executable() {
  std::error_code ec;
  const auto path = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("vision") : path;
}

Registry<Backend>& trainers() {
  static Registry<Backend> registry("train backend");
  return registry;
}

Registry<Backend>& autolabelers() {
  static Registry<Backend> registry("autolabel mode");
  return registry;
}

Registry<Backend>& edge_modes() {
  static Registry<Backend> registry("deploy edge mode");
  return registry;
}


int run_command(const CommonOptions& options, const std::string& command,
                const std::function<RunSpec(const Config&)>& spec_for, const InputCheck& check_inputs,
                const std::function<Expected<void>(Run&)>& body) {
  auto scopes = scopes_for_command(command);
  if (!scopes) return report_error(scopes.error());
  auto config = load_config(options, *scopes);
  if (!config) return 2;
  if (check_inputs) {
    if (auto ok = check_inputs(*config); !ok) {
      return report_error(ok.error().code == ErrorCode::config ? ok.error() : Error{ErrorCode::usage, ok.error().message});
    }
  }
  return execute_run(*config, spec_for(*config), body);
}

void print_summary(const RunSummary& s) {
  std::int64_t boxes = 0;
  std::string per_class;
  for (const auto& [name, count] : s.boxes_per_class) {
    boxes += count;
    if (count > 0) per_class += (per_class.empty() ? ": " : ", ") + name + " " + std::to_string(count);
  }
  std::string line = std::format("{}: {} {}", s.command, s.images, s.unit);
  if (s.unreadable > 0) line += std::format(" ({} unreadable)", s.unreadable);
  if (s.seconds > 0) line += std::format(" in {:.1f} s, {:.1f} {}/s", s.seconds, static_cast<double>(s.images) / s.seconds, s.unit);
  if (!s.figures.empty()) line += "; " + s.figures;
  line += std::format("; {} {}{}", boxes, s.boxes_word, per_class);
  if (!s.outputs.empty()) line += "; saved to " + s.outputs.string();
  log::info(s.command + ".summary", line,
            {{"images", s.images}, {"unreadable", s.unreadable}, {"boxes", boxes}, {"boxes_per_class", s.boxes_per_class}});
}

void set_if(CommonOptions& options, const std::string& key, const std::optional<std::string>& value) {
  if (value) options.overrides.push_back(key + "=" + *value);
}

std::string rank_run_name(const std::string& run_name, int rank) {
  return rank == 0 ? run_name : std::format("{}-rank{}", run_name, rank);
}

std::string job_run_name(const std::string& run_name, int rank) {
  const auto suffix = rank_run_name("", rank);
  return run_name.ends_with(suffix) ? run_name.substr(0, run_name.size() - suffix.size()) : run_name;
}

Registry<Backend>& evaluators() {
  static Registry<Backend> registry("val backend");
  return registry;
}

Registry<Backend>& exporters() {
  static Registry<Backend> registry("export backend");
  return registry;
}

}  // namespace vision::cli
