// c10d's TCPStore + ProcessGroupGloo behind vision::Error: a rendezvous, a barrier, a mean and
// a broadcast of a module, with failures explained (port in use, master unreachable, a peer
// that died or hangs).
#include "distributed_group.hpp"

#include <torch/csrc/distributed/c10d/exception.h>
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <cstdlib>
#include <format>

namespace vision::train {

namespace {

// What DDP uses to copy its initial state: few large messages rather than one per tensor.
constexpr std::size_t k_broadcast_bucket_bytes = 250ULL << 20;

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address.starts_with("127.") || address == "::1";
}

// The network Gloo's connections use, chosen as torch.distributed chooses it: the interface in
// GLOO_SOCKET_IFNAME when set (for hosts whose name resolves to a loopback address), loopback
// when the master is on it, else the address this host's name resolves to.
std::shared_ptr<gloo::transport::Device> gloo_device(const std::string& master_addr) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME");
      interface != nullptr && *interface != '\0') {
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  }
  if (is_loopback(master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

double seconds(std::chrono::milliseconds duration) {
  return static_cast<double>(duration.count()) / 1000.0;
}

}  // namespace

Error distributed_error(const std::string& operation, std::chrono::milliseconds timeout) {
  std::string message;
  try {
    throw;
  } catch (const VisionError& e) {
    return e.error();
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown exception";
  }
  std::string cause;
  if (contains(message, "EADDRINUSE") || contains(message, "ddress already in use")) {
    cause =
        "the port is in use (another training or program holds it; choose another --master-port / "
        "MASTER_PORT)";
  } else if (contains(message, "client socket has timed out") ||
             contains(message, "ECONNREFUSED")) {
    cause = std::format(
        "the master did not answer within {} s (is rank 0 running, are address and port right?)",
        seconds(timeout));
  } else if (contains(message, "losed by peer") || contains(message, "reset by peer") ||
             contains(message, "Broken pipe")) {
    cause = "a peer rank died";
  } else if (contains(message, "imed out") || contains(message, "imeout")) {
    cause =
        std::format("a peer rank did not answer within {} s (it hangs or died)", seconds(timeout));
  }
  return {ErrorCode::runtime,
          cause.empty() ? std::format("distributed {} failed: {}", operation, message)
                        : std::format("distributed {} failed: {} [{}]", operation, cause, message)};
}

struct DistributedGroup::Impl {
  DistributedSettings settings;
  std::chrono::milliseconds timeout;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  std::chrono::nanoseconds all_reduce_wait{0};
};

DistributedGroup::DistributedGroup(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
DistributedGroup::~DistributedGroup() = default;

Expected<std::unique_ptr<DistributedGroup>> DistributedGroup::connect(
    const DistributedSettings& settings, std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->settings = settings;
  impl->timeout = timeout;
  const std::string master = std::format("{}:{}", settings.master_addr, settings.master_port);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(settings.master_port);
    options.isServer = settings.rank == 0;
    options.numWorkers = static_cast<std::size_t>(settings.world_size);
    options.waitWorkers = false;  // ProcessGroupGloo's rendezvous below waits for them
    options.timeout = timeout;
    options.useLibUV = false;  // Debian's LibTorch is built without libuv
    impl->store = c10::make_intrusive<c10d::TCPStore>(settings.master_addr, options);
  } catch (...) {
    return std::unexpected(distributed_error(
        settings.rank == 0
            ? std::format("listening as rank 0 on {}", master)
            : std::format("connecting rank {} to the master at {}", settings.rank, master),
        timeout));
  }
  try {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(gloo_device(settings.master_addr));
    auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, settings.rank,
                                                            settings.world_size, options);
    impl->group =
        c10::make_intrusive<c10d::ProcessGroup>(impl->store, settings.rank, settings.world_size);
    impl->group->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
    impl->group->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
  } catch (...) {
    return std::unexpected(
        distributed_error(std::format("rendezvous of {} ranks at {} (rank {})", settings.world_size,
                                      master, settings.rank),
                          timeout));
  }
  return std::unique_ptr<DistributedGroup>(new DistributedGroup(std::move(impl)));
}

int DistributedGroup::rank() const {
  return m_impl->settings.rank;
}
int DistributedGroup::world_size() const {
  return m_impl->settings.world_size;
}
std::chrono::milliseconds DistributedGroup::timeout() const {
  return m_impl->timeout;
}
const c10::intrusive_ptr<c10d::ProcessGroup>& DistributedGroup::backend() const {
  return m_impl->group;
}

Expected<void> DistributedGroup::barrier(std::optional<std::chrono::milliseconds> timeout) {
  const auto limit = timeout.value_or(m_impl->timeout);
  try {
    c10d::BarrierOptions options;
    options.timeout = limit;
    m_impl->group->barrier(options)->wait();
  } catch (...) {
    return std::unexpected(distributed_error(std::format("barrier (rank {})", rank()), limit));
  }
  return {};
}

std::chrono::nanoseconds DistributedGroup::all_reduce_wait() const { return m_impl->all_reduce_wait; }

Expected<void> DistributedGroup::all_reduce_mean(at::Tensor& tensor) {
  try {
    std::vector<at::Tensor> tensors{tensor};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;  // Gloo has no AVG
    const auto started = std::chrono::steady_clock::now();
    m_impl->group->allreduce(tensors, options)->wait();
    m_impl->all_reduce_wait += std::chrono::steady_clock::now() - started;
    tensor.div_(world_size());
  } catch (...) {
    return std::unexpected(
        distributed_error(std::format("all-reduce (rank {})", rank()), m_impl->timeout));
  }
  return {};
}

Expected<void> DistributedGroup::broadcast_from_rank0(torch::nn::Module& module) {
  try {
    std::vector<at::Tensor> tensors = module.parameters();
    for (auto& buffer : module.buffers()) tensors.push_back(buffer);
    // A clear error when a rank built another architecture, instead of a mismatched copy.
    c10d::verify_params_across_processes(m_impl->group, tensors, std::nullopt);
    torch::NoGradGuard no_grad;
    c10d::broadcast_coalesced(m_impl->group, tensors, k_broadcast_bucket_bytes, 0);
  } catch (...) {
    return std::unexpected(distributed_error(
        std::format("broadcast of the model (rank {})", rank()), m_impl->timeout));
  }
  return {};
}

}  // namespace vision::train
