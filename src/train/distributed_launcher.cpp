// The local launcher (`--nproc-per-node N`): N child processes of the same command, each with
// its torchrun variables; a failing rank stops the others so none waits for it until timeout.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <format>
#include <map>
#include <thread>

#include "vision/core/interrupt.hpp"
#include "vision/train/distributed.hpp"

extern char** environ;

namespace vision::train {

namespace {

constexpr std::chrono::milliseconds k_poll_interval{50};

struct Rank {
  pid_t pid = -1;
  int rank = 0;
  bool running = true;
  int status = 0;
};

// This process's environment with the rank's torchrun variables replacing any inherited ones.
std::vector<std::string> rank_environment(const DistributedSettings& settings) {
  std::map<std::string, std::string> variables;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto equals = text.find('=');
    if (equals != std::string_view::npos)
      variables[std::string(text.substr(0, equals))] = text.substr(equals + 1);
  }
  for (auto& [name, value] : distributed_environment(settings)) variables[name] = value;
  std::vector<std::string> result;
  for (const auto& [name, value] : variables) result.push_back(name + "=" + value);
  return result;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (auto& text : strings) result.push_back(text.data());
  result.push_back(nullptr);
  return result;
}

// fork + exec rather than posix_spawn for what the child must do before exec: its own process
// group, so a terminal's Ctrl+C reaches the launcher alone and each rank gets it once, forwarded
// (a second SIGINT would end a rank before it saves last.pt); SIGINT and SIGTERM unblocked
// (vision::interrupt blocks them in this process); and SIGTERM when the launcher dies, so no
// rank outlives it. Between fork and exec only async-signal-safe calls.
Expected<pid_t> spawn_rank(const LocalLaunchOptions& options, const DistributedSettings& settings) {
  if (access(options.executable.c_str(), X_OK) != 0) {
    return fail(ErrorCode::runtime, std::format("cannot start rank {}: {}: {}", settings.rank,
                                                options.executable.string(), std::strerror(errno)));
  }
  auto arguments = options.arguments;
  auto environment = rank_environment(settings);
  const auto argv = c_strings(arguments);
  const auto envp = c_strings(environment);
  const pid_t launcher = getpid();
  const pid_t pid = fork();
  if (pid < 0)
    return fail(ErrorCode::runtime,
                std::format("cannot start rank {}: {}", settings.rank, std::strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != launcher) _exit(128 + SIGTERM);  // the launcher died before prctl took effect
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(options.executable.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

std::string describe_end(int status) {
  if (WIFSIGNALED(status)) {
    const int number = WTERMSIG(status);
    const char* name = sigabbrev_np(number);
    return std::format("was killed by signal {} (SIG{})", number, name != nullptr ? name : "?");
  }
  return std::format("exited with code {}", WEXITSTATUS(status));
}

int exit_code_of(int status) {
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

bool failed(int status) {
  return WIFSIGNALED(status) || WEXITSTATUS(status) != 0;
}

// Reaps the ranks that ended; returns the first of them that failed, if any.
Rank* reap(std::vector<Rank>& ranks) {
  Rank* first_failure = nullptr;
  for (auto& rank : ranks) {
    if (!rank.running) continue;
    if (waitpid(rank.pid, &rank.status, WNOHANG) != rank.pid) continue;
    rank.running = false;
    if (failed(rank.status) && first_failure == nullptr) first_failure = &rank;
  }
  return first_failure;
}

bool any_running(const std::vector<Rank>& ranks) {
  return std::ranges::any_of(ranks, [](const Rank& rank) { return rank.running; });
}

void signal_running(const std::vector<Rank>& ranks, int number) {
  for (const auto& rank : ranks) {
    if (rank.running) kill(rank.pid, number);
  }
}

// SIGTERM lets a rank end cleanly (its trainer saves last.pt); SIGKILL after the grace period.
void stop_all(std::vector<Rank>& ranks, std::chrono::milliseconds grace) {
  signal_running(ranks, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (any_running(ranks) && std::chrono::steady_clock::now() < deadline) {
    reap(ranks);
    std::this_thread::sleep_for(k_poll_interval);
  }
  signal_running(ranks, SIGKILL);
  for (auto& rank : ranks) {
    if (rank.running) waitpid(rank.pid, &rank.status, 0);
    rank.running = false;
  }
}

}  // namespace

Expected<LaunchResult> launch_local_ranks(const LocalLaunchOptions& options) {
  if (auto valid = validate_launch_options(options.rendezvous); !valid) return std::unexpected(valid.error());
  if (options.arguments.empty())
    return fail(ErrorCode::usage, "the launcher was given no command to run");
  std::vector<Rank> ranks;
  for (int local = 0; local < options.rendezvous.nproc_per_node; ++local) {
    const auto settings = distributed_settings_for(options.rendezvous, local);
    auto pid = spawn_rank(options, settings);
    if (!pid) {
      stop_all(ranks, options.stop_grace);
      return std::unexpected(pid.error());
    }
    ranks.push_back({.pid = *pid, .rank = settings.rank});
  }
  LaunchResult result;
  bool forwarded = false;
  while (any_running(ranks)) {
    if (interrupt::requested() && !forwarded) {
      signal_running(ranks, interrupt::signal_number());
      forwarded = true;
    }
    if (Rank* failure = reap(ranks); failure != nullptr && !forwarded) {
      result = {exit_code_of(failure->status),
                std::format("rank {} (pid {}) {}; stopped the other ranks", failure->rank,
                            failure->pid, describe_end(failure->status))};
      stop_all(ranks, options.stop_grace);
      break;
    }
    std::this_thread::sleep_for(k_poll_interval);
  }
  if (result.exit_code != 0) return result;
  if (interrupt::requested())
    return fail(ErrorCode::interrupted, "training stopped by a signal; every rank has exited");
  return result;
}

std::vector<std::string> strip_launcher_flags(std::span<const std::string> argv) {
  static const std::vector<std::string> k_flags = {"--nproc-per-node", "--nnodes", "--node-rank",
                                                   "--master-addr", "--master-port"};
  std::vector<std::string> result;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& argument = argv[i];
    const bool separate = std::ranges::find(k_flags, argument) != k_flags.end();
    const bool joined = std::ranges::any_of(
        k_flags, [&](const std::string& flag) { return argument.starts_with(flag + "="); });
    if (separate) {
      ++i;
    } else if (!joined) {
      result.push_back(argument);
    }
  }
  return result;
}

}  // namespace vision::train
