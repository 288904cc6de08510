// `vision stats start|stop|status`: runs the foreground service command detached, with a pid
// file, and judges it by its /health endpoint rather than by the process alone.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "vision/core/error.hpp"

namespace vision::stats {

struct BackgroundOptions {
  std::vector<std::string> command;   // argv of the foreground service, program path first
  // Added to the service's environment: the secrets, which never go on its command line.
  std::vector<std::pair<std::string, std::string>> environment;
  std::filesystem::path pid_file;     // <root>/stats.pid
  std::filesystem::path output_file;  // the service's stdout and stderr (appended)
  std::string health_url;             // e.g. http://127.0.0.1:7797/health
  double timeout_sec = 20.0;          // start: wait for /health; stop: wait for the exit
};

struct BackgroundStatus {
  bool running = false;  // a live process owns the pid file
  bool healthy = false;  // and /health answered {"ok":true}
  int pid = 0;
  std::string detail;  // one line for people
  std::string health;  // the /health body when it answered
};

// Starts the service unless one is already running and healthy, then waits for /health.
// On failure the started process is stopped and the error carries the tail of its output.
Expected<BackgroundStatus> start_background(const BackgroundOptions& options);
// SIGTERM (the service commits its queue), then SIGKILL after timeout_sec; removes the pid file.
Expected<BackgroundStatus> stop_background(const BackgroundOptions& options);
BackgroundStatus background_status(const BackgroundOptions& options);

// The last `lines` lines of a text file, starting at byte `from` at the earliest.
std::string tail_file(const std::filesystem::path& file, std::size_t lines,
                      std::uintmax_t from = 0);

struct SystemdUnitOptions {
  std::vector<std::string> command;  // ExecStart, program path first
  std::filesystem::path environment_file;  // EnvironmentFile= (the secrets, mode 0600); empty: none
  std::filesystem::path working_directory;
  std::string user;  // empty: the unit runs as root unless you add User=
  std::string description = "Vision statistics service (API and dashboard)";
};

// A systemd service unit that runs `command` in the foreground and restarts it on failure.
std::string systemd_unit(const SystemdUnitOptions& options);

}  // namespace vision::stats
