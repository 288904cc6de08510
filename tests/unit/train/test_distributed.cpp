// Data-parallel training's building blocks: torchrun-style settings, the launcher and its exit
// code, each rank's shard of an epoch (the yolo and Faster R-CNN loaders alike), and c10d on
// loopback (gradient all-reduce equal to one big batch, a dead or hanging peer, a port in use,
// an unreachable master).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/torch.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <csignal>
#include <cstdlib>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "batch_loader.hpp"
#include "distributed_group.hpp"
#include "distributed_sampler.hpp"
#include "faster_rcnn_sample_loader.hpp"
#include "gradient_reducer.hpp"
#include "sync_batch_norm.hpp"
#include "helpers/test_support.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/train/distributed.hpp"

namespace vision::train {
namespace {

using namespace std::chrono_literals;

LocalLaunchOptions shell_ranks(int count, const std::string& script) {
  return {.rendezvous = {.nproc_per_node = count, .master_port = 29999},
          .executable = "/bin/sh",
          .arguments = {"sh", "-c", script},
          .stop_grace = 2000ms};
}

// A copy of this binary started with this variable plays a part before main, so it never runs
// the tests itself: "peer" joins a group as rank 1 (settings from the environment) and waits to
// be killed; "launcher" launches two ranks of k_rank_script_variable and exits with the code
// `vision` would.
constexpr const char* k_role_variable = "VISION_TEST_DISTRIBUTED_ROLE";
constexpr const char* k_rank_script_variable = "VISION_TEST_RANK_SCRIPT";

[[maybe_unused]] const bool k_role_played = [] {
  const char* role = std::getenv(k_role_variable);
  if (role == nullptr) return false;
  if (std::string_view(role) == "peer") {
    auto settings = distributed_settings_from_env();
    if (!settings) _exit(2);
    auto group = DistributedGroup::connect(*settings, 10s);
    if (!group) _exit(3);
    pause();
    _exit(0);
  }
  interrupt::install();
  auto launched = launch_local_ranks(shell_ranks(2, std::getenv(k_rank_script_variable)));
  _exit(launched ? launched->exit_code : exit_code(launched.error().code));
}();

// This binary in `role`, with `variables` set for it only.
std::unique_ptr<test::BackgroundProcess> start_role(
    const std::string& role, std::vector<std::pair<std::string, std::string>> variables) {
  variables.emplace_back(k_role_variable, role);
  for (const auto& [name, value] : variables) setenv(name.c_str(), value.c_str(), 1);
  auto process = std::make_unique<test::BackgroundProcess>(
      "/proc/self/exe", std::vector<std::string>{"--gtest_filter=-*"});
  for (const auto& [name, value] : variables) unsetenv(name.c_str());
  return process;
}

// A TCP socket listening on a free port of every address; -1 when none could be opened.
int listening_socket(int& port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t length = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      listen(fd, 4) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return -1;
  }
  port = ntohs(address.sin_port);
  return fd;
}

int free_port() {
  int port = 0;
  const int fd = listening_socket(port);
  close(fd);
  return port;
}

DistributedSettings loopback(int port, int rank, int world_size = 2) {
  return {.master_addr = "127.0.0.1",
          .master_port = port,
          .world_size = world_size,
          .rank = rank,
          .local_rank = rank,
          .local_world_size = world_size};
}

// Connects ranks 0..world_size-1 of one group on threads of this process.
std::vector<std::unique_ptr<DistributedGroup>> connect_all(int world_size,
                                                           std::chrono::milliseconds timeout) {
  const int port = free_port();
  std::vector<std::future<Expected<std::unique_ptr<DistributedGroup>>>> joining;
  for (int rank = 0; rank < world_size; ++rank) {
    joining.push_back(std::async(std::launch::async, [=] {
      return DistributedGroup::connect(loopback(port, rank, world_size), timeout);
    }));
  }
  std::vector<std::unique_ptr<DistributedGroup>> groups;
  for (auto& future : joining) {
    auto group = future.get();
    EXPECT_TRUE(group) << group.error().message;
    if (group) groups.push_back(std::move(*group));
  }
  return groups;
}

EnvironmentLookup lookup_in(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const char* name) -> const char* {
    const auto found = variables.find(name);
    return found == variables.end() ? nullptr : found->second.c_str();
  };
}

const std::map<std::string, std::string> k_torchrun_env = {
    {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29400"}, {"WORLD_SIZE", "4"}, {"RANK", "3"},
    {"LOCAL_RANK", "1"},         {"LOCAL_WORLD_SIZE", "2"}};

TEST(DistributedSettings, WithoutWorldSizeTheProcessTrainsAlone) {
  auto settings = distributed_settings_from_env(lookup_in({{"RANK", "garbage"}}));
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_FALSE(settings->distributed());
  EXPECT_EQ(settings->world_size, 1);
}

TEST(DistributedSettings, ReadsTorchrunVariables) {
  auto settings = distributed_settings_from_env(lookup_in(k_torchrun_env));
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->master_addr, "10.0.0.1");
  EXPECT_EQ(settings->master_port, 29400);
  EXPECT_EQ(settings->world_size, 4);
  EXPECT_EQ(settings->rank, 3);
  EXPECT_EQ(settings->local_rank, 1);
  EXPECT_EQ(settings->local_world_size, 2);
}

TEST(DistributedSettings, LocalVariablesDefaultToOneRankPerMachine) {
  auto variables = k_torchrun_env;
  variables.erase("LOCAL_RANK");
  variables.erase("LOCAL_WORLD_SIZE");
  auto settings = distributed_settings_from_env(lookup_in(variables));
  ASSERT_TRUE(settings) << settings.error().message;
  EXPECT_EQ(settings->local_rank, 0);
  EXPECT_EQ(settings->local_world_size, 1);
}

TEST(DistributedSettings, BadOrMissingValueNamesTheVariable) {
  struct Case {
    std::string variable;
    std::optional<std::string> value;  // nullopt: removed
  };
  const std::vector<Case> cases = {
      {"WORLD_SIZE", "two"},         {"WORLD_SIZE", "0"},     {"WORLD_SIZE", "4x"},
      {"RANK", std::nullopt},        {"RANK", "4"},           {"RANK", "-1"},
      {"MASTER_ADDR", std::nullopt}, {"MASTER_ADDR", ""},     {"MASTER_PORT", std::nullopt},
      {"MASTER_PORT", "70000"},      {"MASTER_PORT", "0"},    {"LOCAL_RANK", "2"},
      {"LOCAL_WORLD_SIZE", "5"},     {"LOCAL_WORLD_SIZE", ""}};
  for (const auto& c : cases) {
    auto variables = k_torchrun_env;
    if (c.value) {
      variables[c.variable] = *c.value;
    } else {
      variables.erase(c.variable);
    }
    auto settings = distributed_settings_from_env(lookup_in(variables));
    ASSERT_FALSE(settings) << c.variable << "=" << c.value.value_or("(unset)");
    EXPECT_EQ(settings.error().code, ErrorCode::config);
    EXPECT_NE(settings.error().message.find(c.variable), std::string::npos)
        << settings.error().message;
  }
}

TEST(DistributedLaunch, GivesEachLocalRankItsTorchrunVariables) {
  const DistributedLaunchOptions options{.nnodes = 2,
                                         .node_rank = 1,
                                         .nproc_per_node = 2,
                                         .master_addr = "10.0.0.1",
                                         .master_port = 29400};
  ASSERT_TRUE(validate_launch_options(options));
  const auto settings = distributed_settings_for(options, 1);
  std::map<std::string, std::string> variables;
  for (const auto& [name, value] : distributed_environment(settings)) variables[name] = value;
  EXPECT_EQ(variables, k_torchrun_env);
  auto read_back = distributed_settings_from_env(lookup_in(variables));
  ASSERT_TRUE(read_back);
  EXPECT_EQ(read_back->rank, 3);
}

TEST(DistributedLaunch, BadFlagIsAUsageErrorNamingIt) {
  const std::vector<std::pair<DistributedLaunchOptions, std::string>> cases = {
      {{.nnodes = 0}, "--nnodes"},
      {{.nnodes = 2, .node_rank = 2}, "--node-rank"},
      {{.nproc_per_node = 0}, "--nproc-per-node"},
      {{.master_addr = ""}, "--master-addr"},
      {{.master_port = 0}, "--master-port"}};
  for (const auto& [options, flag] : cases) {
    auto valid = validate_launch_options(options);
    ASSERT_FALSE(valid) << flag;
    EXPECT_EQ(valid.error().code, ErrorCode::usage);
    EXPECT_NE(valid.error().message.find(flag), std::string::npos) << valid.error().message;
  }
}

TEST(DistributedLaunch, ThreadsPerRankShareTheCores) {
  EXPECT_EQ(threads_per_rank(8, 2), 4);
  EXPECT_EQ(threads_per_rank(2, 2), 1);
  EXPECT_EQ(threads_per_rank(2, 4), 1);
  EXPECT_EQ(threads_per_rank(6, 1), 6);
}

TEST(DistributedLaunch, StripsTheLauncherFlagsOnly) {
  const std::vector<std::string> argv = {
      "vision",        "train", "--nproc-per-node", "2",           "--master-port=29600",
      "--epochs",      "3",     "--nnodes=1",       "--node-rank", "0",
      "--master-addr", "h",     "data.yaml"};
  EXPECT_EQ(strip_launcher_flags(argv),
            (std::vector<std::string>{"vision", "train", "--epochs", "3", "data.yaml"}));
}

TEST(DistributedLaunch, RunsEveryRankWithItsVariables) {
  const test::TempDir dir;
  const auto script =
      "echo $RANK $LOCAL_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $MASTER_ADDR $MASTER_PORT > " +
      dir.path().string() + "/rank$RANK";
  auto launched = launch_local_ranks(shell_ranks(3, script));
  ASSERT_TRUE(launched) << launched.error().message;
  EXPECT_EQ(launched->exit_code, 0) << launched->failure;
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_EQ(test::read_text(dir.path() / ("rank" + std::to_string(rank))),
              std::format("{} {} 3 3 127.0.0.1 29999\n", rank, rank));
  }
}

TEST(DistributedLaunch, ARankExitingNonZeroStopsTheOthersAndPassesItsCodeOn) {
  const auto start = std::chrono::steady_clock::now();
  auto launched =
      launch_local_ranks(shell_ranks(3, "if [ $RANK = 1 ]; then exit 7; fi; exec sleep 60"));
  ASSERT_TRUE(launched) << launched.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  EXPECT_EQ(launched->exit_code, 7);
  EXPECT_NE(launched->failure.find("rank 1"), std::string::npos) << launched->failure;
  EXPECT_NE(launched->failure.find("exited with code 7"), std::string::npos) << launched->failure;
}

TEST(DistributedLaunch, ARankKilledBySignalIsNamedAndEndsAs128PlusTheSignal) {
  auto launched =
      launch_local_ranks(shell_ranks(2, "if [ $RANK = 0 ]; then kill -KILL $$; fi; exec sleep 60"));
  ASSERT_TRUE(launched) << launched.error().message;
  EXPECT_EQ(launched->exit_code, 128 + SIGKILL);
  EXPECT_NE(launched->failure.find("rank 0"), std::string::npos) << launched->failure;
  EXPECT_NE(launched->failure.find("SIGKILL"), std::string::npos) << launched->failure;
}

// The launcher process itself exits with the failed rank's code, as `vision train
// --nproc-per-node` does.
TEST(DistributedLaunch, TheLauncherExitsWithTheFailedRanksCode) {
  auto launcher = start_role("launcher", {{k_rank_script_variable, "if [ $RANK = 1 ]; then exit 5; fi; exec sleep 60"}});
  ASSERT_TRUE(test::wait_until([&] { return !launcher->running(); }, 30)) << launcher->err();
  EXPECT_EQ(launcher->stop(SIGTERM, 5), 5) << launcher->err();
}

TEST(DistributedLaunch, ForwardsSigtermToEveryRankAndEndsInterrupted) {
  const test::TempDir dir;
  const auto script = std::format(
      "trap 'echo > {0}/stopped$RANK; exit 0' TERM; echo > {0}/up$RANK; while :; do sleep 0.1; "
      "done",
      dir.path().string());
  auto launcher = start_role("launcher", {{k_rank_script_variable, script}});
  ASSERT_TRUE(test::wait_until(
      [&] { return std::filesystem::exists(dir / "up0") && std::filesystem::exists(dir / "up1"); },
      30))
      << launcher->err();
  EXPECT_EQ(launcher->stop(SIGTERM, 20), 130) << launcher->err();
  EXPECT_TRUE(std::filesystem::exists(dir / "stopped0"));
  EXPECT_TRUE(std::filesystem::exists(dir / "stopped1"));
}

TEST(DistributedSampler, EveryIndexOncePerEpochAcrossRanksPlusPadding) {
  for (const std::size_t count : {10UL, 12UL, 2UL}) {
    const auto order = epoch_order(count, 42, 3);
    const int world = 4;
    std::multiset<std::size_t> dealt;
    for (int rank = 0; rank < world; ++rank) {
      const auto shard = shard_for_rank(order, rank, world);
      EXPECT_EQ(shard.size(), (count + world - 1) / world);
      dealt.insert(shard.begin(), shard.end());
    }
    const std::size_t padded = (count + world - 1) / world * world;
    EXPECT_EQ(dealt.size(), padded);
    for (std::size_t index = 0; index < count; ++index) EXPECT_GE(dealt.count(index), 1U) << index;
    // The padding repeats the start of the epoch's order, as DistributedSampler does.
    for (std::size_t k = count; k < padded; ++k) EXPECT_EQ(dealt.count(order[k % count]), 2U);
  }
}

TEST(DistributedSampler, RankTakesEveryWorldSizeThPosition) {
  const std::vector<std::size_t> order = {5, 3, 8, 1, 0, 9, 2};
  EXPECT_EQ(shard_for_rank(order, 0, 3), (std::vector<std::size_t>{5, 1, 2}));
  EXPECT_EQ(shard_for_rank(order, 1, 3), (std::vector<std::size_t>{3, 0, 5}));
  EXPECT_EQ(shard_for_rank(order, 2, 3), (std::vector<std::size_t>{8, 9, 3}));
}

TEST(DistributedSampler, OrderDependsOnSeedAndEpochOnly) {
  EXPECT_EQ(epoch_order(50, 7, 2), epoch_order(50, 7, 2));
  EXPECT_NE(epoch_order(50, 7, 2), epoch_order(50, 7, 3));
  EXPECT_NE(epoch_order(50, 7, 2), epoch_order(50, 8, 2));
}

// The Faster R-CNN loader deals an epoch as the yolo backend's does: epoch_order, each rank its
// shard_for_rank, in batches of the rank's share.
TEST(DistributedSampler, FasterRcnnLoaderReadsItsRanksShardOfTheEpochOrder) {
  const test::TempDir dir;
  std::vector<DetectionSample> samples(7);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    samples[i].image = dir.path() / std::format("{}.png", i);
    ASSERT_TRUE(cv::imwrite(samples[i].image.string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(10.0 * i))));
    samples[i].width = samples[i].height = 8;
    samples[i].boxes = {{1, 1, 5, 5}};
    samples[i].class_ids = {0};
  }
  const auto items_of = [&](int rank, int world, int batch_size, int epoch) {
    FasterRcnnSampleLoader loader(samples, {.batch_size = batch_size, .rank = rank, .world_size = world, .fliplr = 0.5, .seed = 42});
    loader.start_epoch(epoch);
    std::vector<std::size_t> items;
    std::int64_t batches = 0;
    while (true) {
      auto batch = loader.next();
      EXPECT_TRUE(batch) << batch.error().message;
      if (!batch || !*batch) break;
      ++batches;
      EXPECT_LE((*batch)->images.size(), static_cast<std::size_t>(batch_size));
      items.insert(items.end(), (*batch)->items.begin(), (*batch)->items.end());
    }
    EXPECT_EQ(batches, loader.batches_per_epoch());
    return items;
  };
  EXPECT_EQ(items_of(0, 1, 4, 3), epoch_order(samples.size(), 42, 3));
  const auto order = epoch_order(samples.size(), 42, 5);
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(items_of(rank, 2, 2, 5), shard_for_rank(order, rank, 2)) << "rank " << rank;
  }
}

TEST(DistributedSampler, GlobalBatchIsSharedEqually) {
  EXPECT_EQ(per_rank_batch_size(16, 2), 8);
  EXPECT_EQ(per_rank_batch_size(16, 1), 16);
  for (const auto& [batch, world] : std::vector<std::pair<int, int>>{{15, 2}, {2, 4}}) {
    auto per_rank = per_rank_batch_size(batch, world);
    ASSERT_FALSE(per_rank);
    EXPECT_EQ(per_rank.error().code, ErrorCode::config);
    EXPECT_NE(per_rank.error().message.find("train.batch_size"), std::string::npos);
  }
}

TEST(DistributedGroup, BroadcastsRankZerosWeightsAndAveragesTensors) {
  auto groups = connect_all(2, 10s);
  ASSERT_EQ(groups.size(), 2U);
  std::vector<torch::nn::Linear> models;
  for (int rank = 0; rank < 2; ++rank) {
    torch::manual_seed(rank);
    models.emplace_back(3, 2);
  }
  std::vector<std::future<Expected<void>>> done;
  for (int rank = 0; rank < 2; ++rank) {
    done.push_back(std::async(std::launch::async, [&, rank]() -> Expected<void> {
      if (auto sent = groups[rank]->broadcast_from_rank0(*models[rank]); !sent) return sent;
      auto value = torch::full({2}, static_cast<float>(rank * 4));
      if (auto mean = groups[rank]->all_reduce_mean(value); !mean) return mean;
      if (!torch::equal(value, torch::full({2}, 2.0F)))
        return fail(ErrorCode::runtime, "wrong mean");
      return groups[rank]->barrier();
    }));
  }
  for (auto& future : done) {
    auto result = future.get();
    EXPECT_TRUE(result) << result.error().message;
  }
  EXPECT_TRUE(torch::equal(models[0]->weight, models[1]->weight));
  EXPECT_TRUE(torch::equal(models[0]->bias, models[1]->bias));
}

// Two ranks of 8 images through sync_batch_norm against one BatchNorm over all 16: the outputs,
// the input gradients, the weight and bias gradients (summed over the ranks, as the reducer's
// mean is for a loss summed over them) and the running statistics.
TEST(SyncBatchNorm, TwoRanksOfEightNormaliseAsOneOfSixteen) {
  auto groups = connect_all(2, 10s);
  ASSERT_EQ(groups.size(), 2U);
  torch::manual_seed(3);
  const auto input = torch::randn({16, 4, 5, 5}) * 3 + 1;
  const auto upstream = torch::randn({16, 4, 5, 5});
  const auto options = torch::nn::BatchNorm2dOptions(4).eps(1e-3).momentum(0.03);
  torch::nn::BatchNorm2d reference(options);
  const auto reference_input = input.clone().requires_grad_(true);
  const auto reference_output = reference(reference_input);
  (reference_output * upstream).sum().backward();

  std::vector<torch::nn::BatchNorm2d> norms = {torch::nn::BatchNorm2d(options), torch::nn::BatchNorm2d(options)};
  std::vector<torch::Tensor> inputs, outputs(2);
  for (int rank = 0; rank < 2; ++rank) inputs.push_back(input.slice(0, 8 * rank, 8 * (rank + 1)).clone().requires_grad_(true));
  std::vector<std::future<void>> done;
  for (int rank = 0; rank < 2; ++rank) {
    done.push_back(std::async(std::launch::async, [&, rank] {
      outputs[rank] = sync_batch_norm(*groups[rank], *norms[rank], inputs[rank]);
      (outputs[rank] * upstream.slice(0, 8 * rank, 8 * (rank + 1))).sum().backward();
    }));
  }
  for (auto& future : done) future.get();
  EXPECT_TRUE(torch::allclose(torch::cat(outputs), reference_output, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(torch::cat({inputs[0].grad(), inputs[1].grad()}), reference_input.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(norms[0]->weight.grad() + norms[1]->weight.grad(), reference->weight.grad(), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(norms[0]->bias.grad() + norms[1]->bias.grad(), reference->bias.grad(), 1e-4, 1e-4));
  for (const auto& norm : norms) {
    EXPECT_TRUE(torch::allclose(norm->running_mean, reference->running_mean, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(norm->running_var, reference->running_var, 1e-5, 1e-6));
  }
  // Evaluation uses the running statistics, with no collective.
  norms[0]->eval();
  reference->eval();
  EXPECT_TRUE(torch::allclose(sync_batch_norm(*groups[0], *norms[0], input), reference(input), 1e-5, 1e-6));
}

struct Net : torch::nn::Module {
  Net() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3).padding(1)));
    head = register_module("head", torch::nn::Linear(4 * 5 * 5, 3));
  }
  torch::Tensor forward(const torch::Tensor& x) { return head(torch::relu(conv(x)).flatten(1)); }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear head{nullptr};
};

// A few SGD steps over `batches` (the rows of `inputs` / `targets` each step); with a
// reducer the gradients are averaged over the ranks before each step.
void train_steps(Net& net, const torch::Tensor& inputs, const torch::Tensor& targets,
                 GradientReducer* reducer) {
  torch::optim::SGD optimizer(net.parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  for (std::int64_t step = 0; step < inputs.size(0); ++step) {
    optimizer.zero_grad();
    auto loss = torch::mse_loss(net.forward(inputs[step]), targets[step]);
    if (reducer != nullptr) {
      ASSERT_TRUE(reducer->backward(loss));
    } else {
      loss.backward();
    }
    optimizer.step();
  }
}

TEST(GradientReducer, TwoRanksOfEightEqualOneRankOfSixteen) {
  constexpr int k_steps = 4;
  torch::manual_seed(3);
  const auto inputs = torch::randn({k_steps, 16, 2, 5, 5});
  const auto targets = torch::randn({k_steps, 16, 3});
  std::vector<std::shared_ptr<Net>> nets;
  for (int copy = 0; copy < 3; ++copy) {
    torch::manual_seed(11);
    nets.push_back(std::make_shared<Net>());
  }
  train_steps(*nets[2], inputs, targets, nullptr);

  auto groups = connect_all(2, 10s);
  ASSERT_EQ(groups.size(), 2U);
  std::vector<std::thread> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    ranks.emplace_back([&, rank] {
      // Tiny buckets: several all-reduces per backward, as a real model has.
      auto reducer = GradientReducer::create(*groups[rank], nets[rank]->parameters(), 256);
      ASSERT_TRUE(reducer) << reducer.error().message;
      const auto rows = torch::indexing::Slice(rank * 8, rank * 8 + 8);
      train_steps(*nets[rank], inputs.index({torch::indexing::Slice(), rows}),
                  targets.index({torch::indexing::Slice(), rows}), reducer->get());
    });
  }
  for (auto& thread : ranks) thread.join();
  const auto reference = nets[2]->parameters();
  for (int rank = 0; rank < 2; ++rank) {
    const auto parameters = nets[rank]->parameters();
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      EXPECT_TRUE(torch::allclose(parameters[i], reference[i], 1e-5, 1e-6))
          << "rank " << rank << " parameter " << i << " differs by "
          << (parameters[i] - reference[i]).abs().max().item<float>();
    }
  }
}

TEST(DistributedGroup, APeerThatHangsFailsTheCollectiveWithinTheTimeout) {
  auto groups = connect_all(2, 3s);
  ASSERT_EQ(groups.size(), 2U);
  auto value = torch::ones({4});
  const auto start = std::chrono::steady_clock::now();
  auto reduced = groups[0]->all_reduce_mean(value);  // rank 1 never joins it
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(reduced);
  EXPECT_GE(waited, 2s);
  EXPECT_LT(waited, 10s);
  EXPECT_NE(reduced.error().message.find("all-reduce"), std::string::npos)
      << reduced.error().message;
  EXPECT_NE(reduced.error().message.find("did not answer within 3 s"), std::string::npos)
      << reduced.error().message;
}

TEST(DistributedGroup, APeerKilledMidRunFailsTheCollectiveNamingIt) {
  const int port = free_port();
  auto peer = start_role("peer", distributed_environment(loopback(port, 1)));
  auto group = DistributedGroup::connect(loopback(port, 0), 3s);
  ASSERT_TRUE(group) << group.error().message << "\npeer: " << peer->err();
  EXPECT_EQ(peer->stop(SIGKILL), 128 + SIGKILL);
  auto value = torch::ones({4});
  const auto start = std::chrono::steady_clock::now();
  auto reduced = (*group)->all_reduce_mean(value);
  ASSERT_FALSE(reduced);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_NE(reduced.error().message.find("all-reduce (rank 0)"), std::string::npos)
      << reduced.error().message;
  EXPECT_NE(reduced.error().message.find("peer rank"), std::string::npos)
      << reduced.error().message;
}

TEST(DistributedGroup, PortInUseIsNamed) {
  int port = 0;
  const int holder = listening_socket(port);
  ASSERT_GE(holder, 0);
  auto group = DistributedGroup::connect(loopback(port, 0), 3s);
  close(holder);
  ASSERT_FALSE(group);
  EXPECT_NE(group.error().message.find("port is in use"), std::string::npos)
      << group.error().message;
  EXPECT_NE(group.error().message.find(std::to_string(port)), std::string::npos)
      << group.error().message;
}

TEST(DistributedGroup, UnreachableMasterFailsWithinTheTimeout) {
  const auto start = std::chrono::steady_clock::now();
  auto group = DistributedGroup::connect(loopback(free_port(), 1), 2s);
  ASSERT_FALSE(group);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_NE(group.error().message.find("master"), std::string::npos) << group.error().message;
  EXPECT_NE(group.error().message.find("did not answer within 2 s"), std::string::npos)
      << group.error().message;
}

}  // namespace
}  // namespace vision::train
