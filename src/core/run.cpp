#include "vision/core/run.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"

namespace fs = std::filesystem;

namespace vision {

const char* run_status_name(RunStatus status) {
  switch (status) {
    case RunStatus::running: return "running";
    case RunStatus::ok: return "ok";
    case RunStatus::failed: return "failed";
    case RunStatus::interrupted: return "interrupted";
    case RunStatus::export_failed: return "export_failed";
  }
  return "failed";
}

std::string make_run_id(const std::string& run_name, std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  return run_name + "-" + stamp;
}

Expected<void> write_file_atomic(const fs::path& path, const std::string& text) {
  // Unique per process and call, so concurrent writers of one file never share a temporary.
  static std::atomic<unsigned long> counter{0};
  const fs::path temporary = path.parent_path() / ("." + path.filename().string() + "." +
                                                   std::to_string(getpid()) + "." +
                                                   std::to_string(counter++) + ".tmp");
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return fail(ErrorCode::io, "cannot write " + temporary.string());
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) return fail(ErrorCode::io, "cannot write " + path.string() + ": " + ec.message());
  return {};
}

Expected<void> write_private_file(const fs::path& path, const std::string& text) {
  const fs::path temporary = path.parent_path() / ("." + path.filename().string() + "." + std::to_string(getpid()) + ".tmp");
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail(ErrorCode::io, "cannot write " + temporary.string() + ": " + std::strerror(errno));
  fchmod(fd, 0600);  // an older file of that name keeps its mode otherwise
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  std::error_code ec;
  if (written) fs::rename(temporary, path, ec);
  if (!written || ec) {
    fs::remove(temporary, ec);
    return fail(ErrorCode::io, "cannot write " + path.string());
  }
  return {};
}

Run::Run(const Config& config, RunSpec spec, std::string id, fs::path dir)
    : m_config(config),
      m_spec(std::move(spec)),
      m_id(std::move(id)),
      m_dir(std::move(dir)),
      m_started(std::chrono::steady_clock::now()) {}

Expected<Run> Run::start(const Config& config, RunSpec spec) {
  const fs::path runs = config.root() / "runs";
  std::error_code ec;
  fs::create_directories(runs, ec);
  if (ec) return fail(ErrorCode::io, "cannot create " + runs.string() + ": " + ec.message());
  const std::string base = make_run_id(config.string("workspace.run_name"),
                                       std::chrono::system_clock::now());
  std::string id = base;
  for (int suffix = 2;; ++suffix) {
    // create_directory is one mkdir: it fails when another run (or process) took the name.
    if (fs::create_directory(runs / id, ec)) break;
    if (ec) return fail(ErrorCode::io, "cannot create " + (runs / id).string() + ": " + ec.message());
    if (suffix > 10000) return fail(ErrorCode::io, "no free run folder for " + base);
    id = base + "-" + std::to_string(suffix);
  }
  Run run(config, std::move(spec), id, runs / id);
  const std::string resolved = config.to_toml();
  if (auto ok = write_file_atomic(run.m_dir / "config.resolved.toml", resolved); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = write_file_atomic(config.root() / "config.resolved.toml", resolved); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = run.write_results(RunStatus::running, ""); !ok) return std::unexpected(ok.error());
  return run;
}

fs::path Run::models_dir() const {
  const fs::path dir = m_config.root() / "models" / m_id;
  fs::create_directories(dir);
  return dir;
}

fs::path Run::outputs_dir() const {
  const fs::path dir = m_config.root() / "outputs" / m_id;
  fs::create_directories(dir);
  return dir;
}

double Run::elapsed_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - m_started)
      .count();
}

Expected<void> Run::write_results(RunStatus status, const std::string& error) const {
  const nlohmann::json error_value = error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error);
  const nlohmann::json metrics = {{"run_id", m_id},
                                  {"mode", m_spec.mode},
                                  {"status", run_status_name(status)},
                                  {"elapsed_ms", elapsed_ms()},
                                  {"error", error_value}};
  nlohmann::json artifacts = {{"run_id", m_id}, {"mode", m_spec.mode}};
  if (!m_spec.kind_key.empty()) artifacts[m_spec.kind_key] = m_spec.kind_value;
  artifacts["status"] = run_status_name(status);
  artifacts["error"] = error_value;
  artifacts["artifacts"] = m_artifacts;
  const auto dump = [](const nlohmann::json& j) {
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  };
  if (auto ok = write_file_atomic(m_dir / "metrics.json", dump(metrics)); !ok) return ok;
  return write_file_atomic(m_dir / "artifacts.json", dump(artifacts));
}

Expected<void> open_run_log(const Config& config) {
  const auto level = parse_log_level(config.string("workspace.log_level")).value_or(LogLevel::info);
  fs::path file;
  if (config.boolean("logging.jsonl")) {
    file = config.path("workspace.log_file");
    if (file.is_relative()) file = config.root() / file;
  }
  try {
    Logger::global().open(file, level);
  } catch (const VisionError& e) {
    return std::unexpected(e.error());
  }
  return {};
}

int execute_run(const Config& config, const RunSpec& spec, const RunBody& body) {
  const auto report_setup_failure = [](const Error& error) {
    log::error("run.setup.failed", error.message);
    return exit_code(error.code);
  };
  if (auto ok = ensure_workdir_layout(config.root()); !ok) return report_setup_failure(ok.error());
  if (auto ok = open_run_log(config); !ok) return report_setup_failure(ok.error());
  auto started = Run::start(config, spec);
  if (!started) return report_setup_failure(started.error());
  Run& run = *started;

  log::info(spec.mode + ".start", spec.mode + " run " + run.id() + " started",
            {{"run_id", run.id()}, {spec.kind_key.empty() ? "kind" : spec.kind_key, spec.kind_value}});

  std::optional<Error> error;
  try {
    if (auto result = body(run); !result) error = result.error();
  } catch (const VisionError& e) {
    error = e.error();
  } catch (const std::exception& e) {
    error = Error{ErrorCode::runtime, e.what()};
  } catch (...) {
    error = Error{ErrorCode::runtime, "unknown exception"};
  }

  RunStatus status = RunStatus::ok;
  if (interrupt::requested() || (error && error->code == ErrorCode::interrupted)) {
    status = RunStatus::interrupted;
    if (!error) error = Error{ErrorCode::interrupted, "interrupted by Ctrl+C or SIGTERM"};
  } else if (error) {
    status = error->code == ErrorCode::export_failed ? RunStatus::export_failed : RunStatus::failed;
  }
  const std::string message = error ? error->message : "";
  const auto written = run.write_results(status, message);

  const fs::path artifacts_path = run.dir() / "artifacts.json";
  std::printf("run_id=%s\nstatus=%s\nresolved_config=%s\nartifacts=%s\n", run.id().c_str(),
              run_status_name(status), (run.dir() / "config.resolved.toml").c_str(),
              artifacts_path.c_str());
  std::fflush(stdout);

  const nlohmann::json fields = {{"run_id", run.id()},
                                 {"status", run_status_name(status)},
                                 {"elapsed_ms", run.elapsed_ms()}};
  if (status == RunStatus::ok) {
    log::info(spec.mode + ".done", spec.mode + " finished in " +
                                       std::to_string(static_cast<long>(run.elapsed_ms())) +
                                       " ms: " + artifacts_path.string(),
              fields);
  } else if (status == RunStatus::interrupted) {
    // Ctrl+C and SIGTERM are the normal way to stop a training or a server.
    log::warn(spec.mode + ".interrupted", spec.mode + " stopped: " + message, fields);
  } else {
    log::error(spec.mode + "." + run_status_name(status), spec.mode + " " +
                                                              run_status_name(status) + ": " +
                                                              message,
               fields);
  }
  if (!written) {
    log::error("run.write.failed", written.error().message);
    return 1;
  }
  if (status == RunStatus::ok) return 0;
  if (status == RunStatus::interrupted) return 130;
  return exit_code(error->code);
}

}  // namespace vision
