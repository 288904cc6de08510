#include "vision/stats/background_service.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "vision/core/run.hpp"
#include "vision/net/http_client.hpp"

namespace fs = std::filesystem;

namespace vision::stats {

namespace {

using Clock = std::chrono::steady_clock;

int read_pid(const fs::path& file) {
  std::ifstream in(file);
  long pid = 0;
  if (!(in >> pid) || pid <= 1 || pid > 1 << 22) return 0;
  return static_cast<int>(pid);
}

// Alive and not a zombie.
bool process_alive(int pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0) return errno == EPERM;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';
}

// Guards against a recycled pid: the process must be a `… stats serve …` command.
bool is_stats_service(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (cmdline.empty()) return true;  // /proc unreadable: trust the pid file
  std::vector<std::string> args;
  std::string arg;
  for (char c : cmdline) {
    if (c == '\0') {
      args.push_back(arg);
      arg.clear();
    } else {
      arg.push_back(c);
    }
  }
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "stats" && args[i + 1] == "serve") return true;
  }
  return false;
}

// True when `url` answers {"ok": true, …} — from process `pid` when pid > 0 (the service names
// its pid), so that another server on the same port is never taken for it.
bool check_health(const std::string& url, std::string& body, int pid = 0) {
  auto parts = net::split_url(url);
  if (!parts) return false;
  net::HttpClient client({.base_url = parts->first, .timeout_sec = 1.0, .api_key = ""});
  auto response = client.get(parts->second);
  if (!response || response->status != 200) return false;
  body = response->body;
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_object() || !parsed.value("ok", false)) return false;
  return pid <= 0 || parsed.value("pid", 0) == pid;
}

// Whatever already answers on `url`'s port (a foreign server, one started from another
// work-dir) makes a new service die with "address in use": say so before starting one.
Expected<void> require_free_port(const std::string& url, const std::filesystem::path& pid_file) {
  auto parts = net::split_url(url);
  if (!parts) return fail(ErrorCode::config, "not a URL: " + url);
  net::HttpClient client({.base_url = parts->first, .timeout_sec = 1.0, .api_key = ""});
  if (!client.get(parts->second)) return {};
  return fail(ErrorCode::runtime, "cannot start the statistics service: " + parts->first +
                                      " is already in use by another server (not the one in " + pid_file.string() +
                                      "); stop it or choose another deploy.statistics.api_port");
}

void remove_pid_file(const fs::path& file) {
  std::error_code ec;
  fs::remove(file, ec);
}

bool wait_for_exit(int pid, double timeout_sec, bool our_child) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_sec);
  while (Clock::now() < deadline) {
    if (our_child) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) return true;
    }
    if (!process_alive(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

std::string tail_file(const fs::path& file, std::size_t lines, std::uintmax_t from) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  in.seekg(static_cast<std::streamoff>(from));
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += l + "\n";
  return out;
}

BackgroundStatus background_status(const BackgroundOptions& options) {
  BackgroundStatus status;
  status.pid = read_pid(options.pid_file);
  if (status.pid == 0) {
    status.detail = "not running (no pid file at " + options.pid_file.string() + ")";
    return status;
  }
  if (!process_alive(status.pid) || !is_stats_service(status.pid)) {
    status.detail = "not running (stale pid file " + options.pid_file.string() + ", pid " +
                    std::to_string(status.pid) + ")";
    return status;
  }
  status.running = true;
  status.healthy = check_health(options.health_url, status.health);
  status.detail = status.healthy ? "running and healthy (pid " + std::to_string(status.pid) + ")"
                                 : "running (pid " + std::to_string(status.pid) + ") but " +
                                       options.health_url + " does not answer";
  return status;
}

Expected<BackgroundStatus> start_background(const BackgroundOptions& options) {
  if (options.command.empty()) return fail(ErrorCode::usage, "no service command");
  auto current = background_status(options);
  if (current.running && current.healthy) {
    current.detail = "already running (pid " + std::to_string(current.pid) + ")";
    return current;
  }
  if (current.running) {
    return fail(ErrorCode::runtime, "a statistics service is already running (pid " +
                                        std::to_string(current.pid) + ") but " +
                                        options.health_url +
                                        " does not answer; run `vision stats stop` first");
  }
  remove_pid_file(options.pid_file);
  if (auto ok = require_free_port(options.health_url, options.pid_file); !ok) return std::unexpected(ok.error());

  std::error_code ec;
  if (options.output_file.has_parent_path())
    fs::create_directories(options.output_file.parent_path(), ec);
  if (options.pid_file.has_parent_path())
    fs::create_directories(options.pid_file.parent_path(), ec);
  const int out =
      ::open(options.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) {
    return fail(ErrorCode::io,
                "cannot open " + options.output_file.string() + ": " + std::strerror(errno));
  }
  struct stat info {};
  const std::uintmax_t offset =
      fstat(out, &info) == 0 ? static_cast<std::uintmax_t>(info.st_size) : 0;

  std::vector<char*> argv;
  for (const auto& arg : options.command) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  // The child's environment, built before fork: this process's plus the secrets.
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) environment.emplace_back(*entry);
  for (const auto& [name, value] : options.environment) environment.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) {
    ::close(out);
    return fail(ErrorCode::runtime, std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: own session (no terminal signals), stdin from /dev/null, output to the file,
    // a clean signal mask (the parent blocks SIGINT/SIGTERM for its watcher thread).
    setsid();
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    dup2(out, 1);
    dup2(out, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(argv[0], argv.data(), envp.data());
    dprintf(2, "cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  ::close(out);
  if (auto ok = write_file_atomic(options.pid_file, std::to_string(pid) + "\n"); !ok) {
    kill(pid, SIGTERM);
    return std::unexpected(ok.error());
  }

  const auto deadline = Clock::now() + std::chrono::duration<double>(options.timeout_sec);
  BackgroundStatus status;
  status.pid = pid;
  std::string why;
  while (true) {
    int wstatus = 0;
    if (waitpid(pid, &wstatus, WNOHANG) == pid) {
      why = WIFEXITED(wstatus)
                ? "the service exited with code " + std::to_string(WEXITSTATUS(wstatus))
                : "the service was killed by signal " + std::to_string(WTERMSIG(wstatus));
      break;
    }
    if (check_health(options.health_url, status.health, pid)) {
      status.running = status.healthy = true;
      status.detail = "started (pid " + std::to_string(pid) + ")";
      return status;
    }
    if (Clock::now() >= deadline) {
      why = options.health_url + " did not answer within " +
            std::to_string(static_cast<int>(options.timeout_sec)) + " s";
      kill(pid, SIGTERM);
      if (!wait_for_exit(pid, 5.0, true)) kill(pid, SIGKILL);
      waitpid(pid, nullptr, WNOHANG);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  remove_pid_file(options.pid_file);
  return fail(ErrorCode::runtime, "the statistics service did not start: " + why +
                                      ". Last lines of " + options.output_file.string() + ":\n" +
                                      tail_file(options.output_file, 20, offset));
}

Expected<BackgroundStatus> stop_background(const BackgroundOptions& options) {
  auto status = background_status(options);
  if (!status.running) {
    if (status.pid != 0) remove_pid_file(options.pid_file);
    return status;
  }
  if (kill(status.pid, SIGTERM) != 0 && errno != ESRCH) {
    return fail(ErrorCode::runtime,
                "cannot signal pid " + std::to_string(status.pid) + ": " + std::strerror(errno));
  }
  if (!wait_for_exit(status.pid, options.timeout_sec, false)) {
    // Never SIGKILL: the service may still be committing events it acknowledged.
    return fail(ErrorCode::runtime, "the statistics service (pid " + std::to_string(status.pid) + ") is still stopping after " +
                                        std::to_string(static_cast<int>(options.timeout_sec)) +
                                        " s, committing the events it acknowledged; it was not killed. Wait, or see " +
                                        options.output_file.string());
  }
  status.detail = "stopped (pid " + std::to_string(status.pid) + ")";
  status.running = status.healthy = false;
  remove_pid_file(options.pid_file);
  return status;
}

std::string systemd_unit(const SystemdUnitOptions& options) {
  // systemd splits ExecStart like a shell; quote every argument that needs it.
  auto quote = [](const std::string& arg) {
    if (!arg.empty() && arg.find_first_of(" \t\"'\\$%;") == std::string::npos) return arg;
    std::string out = "\"";
    for (char c : arg) {
      if (c == '"' || c == '\\') out.push_back('\\');
      if (c == '%') out.push_back('%');
      if (c == '$') out.push_back('$');
      out.push_back(c);
    }
    return out + "\"";
  };
  std::ostringstream unit;
  unit << "[Unit]\n"
       << "Description=" << options.description << "\n"
       << "After=network-online.target\n"
       << "Wants=network-online.target\n\n"
       << "[Service]\n"
       << "Type=simple\n";
  if (!options.user.empty()) unit << "User=" << options.user << "\n";
  if (!options.environment_file.empty()) unit << "EnvironmentFile=" << quote(options.environment_file.string()) << "\n";
  if (!options.working_directory.empty())
    unit << "WorkingDirectory=" << quote(options.working_directory.string()) << "\n";
  unit << "ExecStart=";
  for (size_t i = 0; i < options.command.size(); ++i)
    unit << (i ? " " : "") << quote(options.command[i]);
  unit << "\n"
       << "# SIGTERM makes the service commit every queued event before it exits.\n"
       << "KillSignal=SIGTERM\n"
       << "TimeoutStopSec=30\n"
       << "Restart=on-failure\n"
       << "RestartSec=2\n"
       << "NoNewPrivileges=true\n"
       << "PrivateTmp=true\n\n"
       << "[Install]\n"
       << "WantedBy=multi-user.target\n";
  return unit.str();
}

}  // namespace vision::stats
