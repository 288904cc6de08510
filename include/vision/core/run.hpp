// The run lifecycle (SPEC 3.3): every train / val / export / predict / autolabel / deploy run
// gets a unique run id and folder, and leaves metrics.json, artifacts.json and
// config.resolved.toml behind whether it succeeds, fails or is interrupted.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "vision/core/config.hpp"
#include "vision/core/error.hpp"

namespace vision {

// export_failed: a training that finished (its checkpoints and results stand) and whose export
// did not.
enum class RunStatus { running, ok, failed, interrupted, export_failed };
const char* run_status_name(RunStatus status);

struct RunSpec {
  std::string mode;        // train|val|export|predict|autolabel|deploy-edge|deploy-remote
  std::string kind_key;    // "backend", "autolabel_mode" or "deploy_mode" in artifacts.json
  std::string kind_value;  // e.g. "yolo"
};

// `<run_name>-<YYYYMMDD-HHMMSS>` in UTC for the given time.
std::string make_run_id(const std::string& run_name, std::chrono::system_clock::time_point time);

class Run {
 public:
  // Creates runs/<run_id>/ (with a -2, -3, … suffix when taken: the folder is made with one
  // mkdir, so two processes never share it) and writes the resolved config and a "running"
  // metrics.json.
  static Expected<Run> start(const Config& config, RunSpec spec);

  const std::string& id() const { return m_id; }
  const RunSpec& spec() const { return m_spec; }
  const Config& config() const { return m_config; }
  const std::filesystem::path& dir() const { return m_dir; }
  // <root>/models/<run_id> and <root>/outputs/<run_id>; created on first call.
  std::filesystem::path models_dir() const;
  std::filesystem::path outputs_dir() const;
  double elapsed_ms() const;

  // What the run produced so far; written to artifacts.json even when the run fails.
  nlohmann::json& artifacts() { return m_artifacts; }

  // Writes metrics.json and artifacts.json (atomically, by rename).
  Expected<void> write_results(RunStatus status, const std::string& error) const;

 private:
  Run(const Config& config, RunSpec spec, std::string id, std::filesystem::path dir);

  Config m_config;
  RunSpec m_spec;
  std::string m_id;
  std::filesystem::path m_dir;
  std::chrono::steady_clock::time_point m_started;
  nlohmann::json m_artifacts = nlohmann::json::object();
};

using RunBody = std::function<Expected<void>(Run&)>;

// The one way a run command runs: make the work-dir layout, open the log, start the run,
// call `body`, turn any exception or interrupt into a status, write the run files, print
// run_id= / status= / resolved_config= / artifacts= on stdout and a summary on stderr.
// Returns the process exit code (0 ok, 1 failed, 3 not in this build, 4 trained but export
// failed, 130 interrupted).
int execute_run(const Config& config, const RunSpec& spec, const RunBody& body);

// Opens <root>/<workspace.log_file> on the global logger at workspace.log_level.
Expected<void> open_run_log(const Config& config);

// Writes `text` to `path` through a temporary file and a rename.
Expected<void> write_file_atomic(const std::filesystem::path& path, const std::string& text);

// The same for a file of secrets: created with mode 0600, so that only its owner reads it.
Expected<void> write_private_file(const std::filesystem::path& path, const std::string& text);

}  // namespace vision
