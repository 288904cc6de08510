// Rendezvous settings by torchrun's conventions: read from the environment a launcher or a
// cluster scheduler sets, or derived from the launcher's own flags for each local rank.
#include "vision/train/distributed.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <format>
#include <optional>

namespace vision::train {

namespace {

// The integer in `name`, checked to lie in [low, high]; std::nullopt when the variable is unset.
Expected<std::optional<int>> int_variable(const EnvironmentLookup& lookup, const char* name,
                                          int low, int high) {
  const char* text = lookup(name);
  if (text == nullptr) return std::optional<int>{};
  const std::string_view value(text);
  int parsed = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (value.empty() || error != std::errc{} || end != value.data() + value.size()) {
    return fail(ErrorCode::config, std::format("{}=\"{}\" is not a whole number", name, value));
  }
  if (parsed < low || parsed > high) {
    return fail(ErrorCode::config,
                std::format("{}={} must lie in [{}, {}]", name, parsed, low, high));
  }
  return std::optional<int>{parsed};
}

Expected<int> required_int(const EnvironmentLookup& lookup, const char* name, int low, int high) {
  auto value = int_variable(lookup, name, low, high);
  if (!value) return std::unexpected(value.error());
  if (!*value) return fail(ErrorCode::config, std::format("{} is not set (WORLD_SIZE is)", name));
  return **value;
}

}  // namespace

Expected<DistributedSettings> distributed_settings_from_env(const EnvironmentLookup& lookup) {
  const EnvironmentLookup read =
      lookup ? lookup : [](const char* name) -> const char* { return std::getenv(name); };
  constexpr int k_max_ranks = 1 << 16;
  DistributedSettings settings;
  auto world = int_variable(read, "WORLD_SIZE", 1, k_max_ranks);
  if (!world) return std::unexpected(world.error());
  if (!*world) return settings;
  settings.world_size = **world;
  const char* addr = read("MASTER_ADDR");
  if (addr == nullptr || *addr == '\0')
    return fail(ErrorCode::config, "MASTER_ADDR is not set (WORLD_SIZE is)");
  settings.master_addr = addr;
  auto port = required_int(read, "MASTER_PORT", 1, 65535);
  if (!port) return std::unexpected(port.error());
  auto rank = required_int(read, "RANK", 0, settings.world_size - 1);
  if (!rank) return std::unexpected(rank.error());
  auto local_world = int_variable(read, "LOCAL_WORLD_SIZE", 1, settings.world_size);
  if (!local_world) return std::unexpected(local_world.error());
  settings.master_port = *port;
  settings.rank = *rank;
  settings.local_world_size = local_world->value_or(1);
  auto local_rank = int_variable(read, "LOCAL_RANK", 0, settings.local_world_size - 1);
  if (!local_rank) return std::unexpected(local_rank.error());
  settings.local_rank = local_rank->value_or(0);
  return settings;
}

Expected<void> validate_launch_options(const DistributedLaunchOptions& options) {
  if (options.nnodes < 1)
    return fail(ErrorCode::usage, std::format("--nnodes {} must be at least 1", options.nnodes));
  if (options.node_rank < 0 || options.node_rank >= options.nnodes) {
    return fail(ErrorCode::usage, std::format("--node-rank {} must lie in [0, {}) (--nnodes)",
                                              options.node_rank, options.nnodes));
  }
  if (options.nproc_per_node < 1) {
    return fail(ErrorCode::usage,
                std::format("--nproc-per-node {} must be at least 1", options.nproc_per_node));
  }
  if (options.master_addr.empty()) return fail(ErrorCode::usage, "--master-addr is empty");
  if (options.master_port < 1 || options.master_port > 65535) {
    return fail(ErrorCode::usage,
                std::format("--master-port {} must lie in [1, 65535]", options.master_port));
  }
  return {};
}

DistributedSettings distributed_settings_for(const DistributedLaunchOptions& options,
                                             int local_rank) {
  return {.master_addr = options.master_addr,
          .master_port = options.master_port,
          .world_size = options.nnodes * options.nproc_per_node,
          .rank = options.node_rank * options.nproc_per_node + local_rank,
          .local_rank = local_rank,
          .local_world_size = options.nproc_per_node};
}

std::vector<std::pair<std::string, std::string>> distributed_environment(
    const DistributedSettings& settings) {
  return {{"MASTER_ADDR", settings.master_addr},
          {"MASTER_PORT", std::to_string(settings.master_port)},
          {"WORLD_SIZE", std::to_string(settings.world_size)},
          {"RANK", std::to_string(settings.rank)},
          {"LOCAL_RANK", std::to_string(settings.local_rank)},
          {"LOCAL_WORLD_SIZE", std::to_string(settings.local_world_size)}};
}

int threads_per_rank(int cores, int local_world_size) {
  return std::max(1, cores / std::max(1, local_world_size));
}

}  // namespace vision::train
