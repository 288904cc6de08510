// Data-parallel training's settings and local launcher, the parts the CLI needs: rendezvous
// settings by torchrun's conventions (environment or flags) and starting N local ranks of the
// same command. The header stays free of LibTorch; the process group lives in src/train.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "vision/core/error.hpp"

namespace vision::train {

// A collective (all-reduce, barrier, broadcast) that waits longer than this ends the run. A
// CPU training step takes seconds, so five minutes is far beyond a slow step yet ends a run
// whose peer hangs well before torch's 30 minutes (tuned for GPU jobs with long compiles).
constexpr int k_distributed_default_timeout_s = 300;
constexpr int k_distributed_default_port = 29500;  // torchrun's

// Where this process stands in the job; WORLD_SIZE 1 is a plain single-process training.
struct DistributedSettings {
  std::string master_addr = "127.0.0.1";
  int master_port = k_distributed_default_port;
  int world_size = 1;
  int rank = 0;
  int local_rank = 0;        // among the ranks of this machine
  int local_world_size = 1;  // ranks on this machine: they share its cores
  bool distributed() const { return world_size > 1; }
};

// A backend's data-parallel settings: where this process stands, train.distributed.timeout_s
// and train.distributed.sync_bn (BatchNorm over the global batch).
struct DataParallelOptions {
  DistributedSettings settings;
  int timeout_s = k_distributed_default_timeout_s;
  bool sync_bn = false;
};

// The launcher's flags: --nnodes, --node-rank, --nproc-per-node, --master-addr, --master-port.
struct DistributedLaunchOptions {
  int nnodes = 1;
  int node_rank = 0;
  int nproc_per_node = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = k_distributed_default_port;
};

using EnvironmentLookup = std::function<const char*(const char*)>;

// MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE as torchrun sets
// them. Without WORLD_SIZE the process trains alone; with it RANK, MASTER_ADDR and MASTER_PORT
// are required, LOCAL_RANK defaults to 0 and LOCAL_WORLD_SIZE to 1 (one rank per machine).
// A missing or bad value is ErrorCode::config naming the variable. An empty lookup reads the
// process environment.
Expected<DistributedSettings> distributed_settings_from_env(const EnvironmentLookup& lookup = {});

// The flags checked (ErrorCode::usage naming the flag).
Expected<void> validate_launch_options(const DistributedLaunchOptions& options);
// The settings of local rank `local_rank` of this node.
DistributedSettings distributed_settings_for(const DistributedLaunchOptions& options,
                                             int local_rank);
// The variables that give a child process `settings` (what torchrun exports).
std::vector<std::pair<std::string, std::string>> distributed_environment(
    const DistributedSettings& settings);

// LibTorch intra-op threads of one rank: the machine's cores shared among its ranks, at least 1.
int threads_per_rank(int cores, int local_world_size);

struct LocalLaunchOptions {
  DistributedLaunchOptions rendezvous;
  std::filesystem::path executable = "/proc/self/exe";
  std::vector<std::string> arguments;           // argv of every rank, argv[0] included
  std::chrono::milliseconds stop_grace{10000};  // SIGTERM to SIGKILL when stopping the others
};

// How the ranks ended: exit_code 0 when every rank succeeded; when one failed, its own exit code
// (128 + N for a rank killed by signal N, as a shell reports it), which the launcher exits with,
// and `failure` naming the rank and how it ended.
struct LaunchResult {
  int exit_code = 0;
  std::string failure;
};

// Starts nproc_per_node ranks of `arguments`, each with its torchrun variables in a process group
// of its own, forwards a SIGINT or SIGTERM (seen through vision::interrupt) to them once and
// waits. When a rank exits non-zero or dies by a signal the others are stopped and the result
// says which and how; a stop request ends as ErrorCode::interrupted once every rank has exited.
// A rank gets SIGTERM if the launcher dies.
Expected<LaunchResult> launch_local_ranks(const LocalLaunchOptions& options);

// argv without the launcher's flags (`--nproc-per-node 2` and `--nproc-per-node=2` alike), so
// a rank re-executes the same command without launching again.
std::vector<std::string> strip_launcher_flags(std::span<const std::string> argv);

}  // namespace vision::train
