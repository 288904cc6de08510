// `vision train` data parallel on loopback: 2 ranks x batch 8 end with the weights of 1 rank x
// batch 16, write the files a one-process run writes, resume one process's last.pt, and a rank
// killed mid-epoch ends the other within train.distributed.timeout_s, non-zero, with the previous
// epoch's last.pt intact. Backend faster_rcnn on 2 ranks: the files of one process, a best.pt
// that loads, the same weights on both ranks and rank 1's log lines marked with its rank; the
// launcher passes a failed rank's own exit code on.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "helpers/test_support.hpp"
#include "vision/net/free_port.hpp"
#include "vision/train/checkpoint.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"
#include "vision/train/faster_rcnn/variant.hpp"
#include "vision/train/faster_rcnn/weights.hpp"

namespace fs = std::filesystem;
using vision::test::run_vision;
using vision::test::TempDir;

namespace {

// Augmentation off, so both runs see the same pixels whichever rank reads an image, and
// BatchNorm over the global batch, so 2 ranks x 8 normalise as 1 x 16.
const std::vector<std::string> k_plain = {
    "--set", "train.distributed.sync_bn=true",
    "--set", "train.yolo.mosaic=0",    "--set", "train.yolo.hsv_h=0",
    "--set", "train.yolo.hsv_s=0",     "--set", "train.yolo.hsv_v=0",
    "--set", "train.yolo.translate=0", "--set", "train.yolo.scale=0",
    "--set", "train.yolo.fliplr=0"};

class DistributedTrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_dir = new TempDir;
    ASSERT_EQ(run_vision({"datagen", "--out", (*s_dir / "data").string(), "--train", "32", "--val",
                          "2", "--size", "64"})
                  .exit_code,
              0);
  }
  static void TearDownTestSuite() { delete s_dir; }

  static std::vector<std::string> train_args(const std::string& workdir,
                                             std::vector<std::string> more) {
    std::vector<std::string> args = {"train",
                                     "--workdir",
                                     (*s_dir / workdir).string(),
                                     "--data",
                                     (*s_dir / "data").string(),
                                     "--img-size",
                                     "64",
                                     "--set",
                                     "class_map.names=[circle,square,triangle,star]",
                                     "--set",
                                     "export.quantize=false"};
    args.insert(args.end(), k_plain.begin(), k_plain.end());
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

  // Rank 0's folder under runs/ or models/ (the other ranks' run folders end in -rank<N>; the
  // link models/<run_name> is not one).
  static fs::path rank0_folder(const std::string& workdir, const std::string& kind) {
    for (const auto& entry : fs::directory_iterator(*s_dir / workdir / kind)) {
      const bool rank0 = entry.path().filename().string().find("-rank") == std::string::npos;
      if (entry.is_directory() && !entry.is_symlink() && rank0) return entry.path();
    }
    return {};
  }

  static std::set<std::string> file_names(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& entry : fs::recursive_directory_iterator(dir))
      names.insert(fs::relative(entry.path(), dir).string());
    return names;
  }

  static TempDir* s_dir;
};

TempDir* DistributedTrain::s_dir = nullptr;

// Both trainings, once for the tests that compare them: 2 epochs of 2 global batches of 16.
class TwoRanksAgainstOne : public DistributedTrain {
 protected:
  static void SetUpTestSuite() {
    DistributedTrain::SetUpTestSuite();
    const std::vector<std::string> recipe = {"--epochs", "2", "--batch-size", "16"};
    s_one = new vision::test::ProcessResult(run_vision(train_args("one", recipe)));
    auto two = recipe;
    two.insert(two.end(), {"--nproc-per-node", "2", "--master-port",
                           std::to_string(vision::net::free_loopback_port())});
    s_two = new vision::test::ProcessResult(run_vision(train_args("two", two)));
  }
  static void TearDownTestSuite() {
    delete s_one;
    delete s_two;
    DistributedTrain::TearDownTestSuite();
  }
  static vision::test::ProcessResult* s_one;
  static vision::test::ProcessResult* s_two;
};

vision::test::ProcessResult* TwoRanksAgainstOne::s_one = nullptr;
vision::test::ProcessResult* TwoRanksAgainstOne::s_two = nullptr;

TEST_F(TwoRanksAgainstOne, TrainTheWeightsOfOneProcessOnTheGlobalBatch) {
  ASSERT_EQ(s_one->exit_code, 0) << s_one->err;
  ASSERT_EQ(s_two->exit_code, 0) << s_two->err;
  auto one = vision::train::load_checkpoint(rank0_folder("one", "models") / "last.pt");
  auto two = vision::train::load_checkpoint(rank0_folder("two", "models") / "last.pt");
  ASSERT_TRUE(one) << one.error().message;
  ASSERT_TRUE(two) << two.error().message;
  const auto expected = one->model->named_parameters();
  const auto actual = two->model->named_parameters();
  ASSERT_EQ(expected.size(), actual.size());
  for (const auto& item : expected) {
    const auto& other = actual[item.key()];
    EXPECT_TRUE(torch::allclose(other, item.value(), 1e-3, 1e-5))
        << item.key() << " differs by " << (other - item.value()).abs().max().item<double>();
  }
  for (const auto& item : one->model->named_buffers()) {
    if (!item.value().is_floating_point()) continue;
    EXPECT_TRUE(torch::allclose(two->model->named_buffers()[item.key()], item.value(), 1e-3, 1e-5))
        << item.key();
  }
  // The same history: the epochs' losses (summed over the ranks) equal the one process's.
  EXPECT_EQ(one->meta.epoch, 2);
  EXPECT_EQ(two->meta.epoch, 2);
  EXPECT_EQ(one->meta.history.size(), two->meta.history.size());
  EXPECT_NEAR(one->meta.history[1]["cls_loss"].get<double>(),
              two->meta.history[1]["cls_loss"].get<double>(), 1e-3);
}

TEST_F(TwoRanksAgainstOne, WriteTheFilesOfOneProcess) {
  ASSERT_EQ(s_one->exit_code, 0) << s_one->err;
  ASSERT_EQ(s_two->exit_code, 0) << s_two->err;
  EXPECT_EQ(file_names(rank0_folder("two", "runs")), file_names(rank0_folder("one", "runs")));
  EXPECT_EQ(file_names(rank0_folder("two", "models")), file_names(rank0_folder("one", "models")));
  // Rank 1 leaves only its own run record (its config, status and error), no models.
  std::set<std::string> runs;
  for (const auto& entry : fs::directory_iterator(*s_dir / "two" / "runs"))
    runs.insert(entry.path().filename().string());
  EXPECT_EQ(runs.size(), 2U);
  std::size_t model_folders = 0;
  for (const auto& entry : fs::directory_iterator(*s_dir / "two" / "models")) {
    model_folders += entry.is_directory() && !entry.is_symlink() ? 1 : 0;
  }
  EXPECT_EQ(model_folders, 1U);
}

// A checkpoint holds no per-rank state: one process's last.pt continues on two ranks.
TEST_F(TwoRanksAgainstOne, ResumeOnAnotherNumberOfRanks) {
  ASSERT_EQ(s_one->exit_code, 0) << s_one->err;
  const auto last = rank0_folder("one", "models") / "last.pt";
  const auto resumed = run_vision(
      train_args("one", {"--epochs", "3", "--batch-size", "16", "--set", "train.yolo.resume=true",
                         "--weights", last.string(), "--nproc-per-node", "2", "--master-port",
                         std::to_string(vision::net::free_loopback_port())}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  std::size_t resumed_epochs = 0;
  for (const auto& entry : fs::directory_iterator(*s_dir / "one" / "models")) {
    if (entry.is_symlink() || !fs::is_regular_file(entry.path() / "last.pt")) continue;
    auto checkpoint = vision::train::load_checkpoint(entry.path() / "last.pt");
    ASSERT_TRUE(checkpoint) << checkpoint.error().message;
    if (checkpoint->meta.epoch == 3) resumed_epochs = checkpoint->meta.history.size();
  }
  EXPECT_EQ(resumed_epochs, 3U);
}

// Rank `rank` of two, started as torchrun starts it: by its environment.
std::unique_ptr<vision::test::BackgroundProcess> start_rank(int rank, int port,
                                                            const std::vector<std::string>& args) {
  const std::vector<std::pair<std::string, std::string>> variables = {
      {"WORLD_SIZE", "2"},
      {"RANK", std::to_string(rank)},
      {"LOCAL_RANK", std::to_string(rank)},
      {"LOCAL_WORLD_SIZE", "2"},
      {"MASTER_ADDR", "127.0.0.1"},
      {"MASTER_PORT", std::to_string(port)}};
  for (const auto& [name, value] : variables) setenv(name.c_str(), value.c_str(), 1);
  auto process = std::make_unique<vision::test::BackgroundProcess>(VISION_BINARY, args);
  for (const auto& [name, value] : variables) unsetenv(name.c_str());
  return process;
}

TEST_F(DistributedTrain, AKilledRankEndsTheOtherWithinTheTimeoutAndLastPtStays) {
  constexpr int k_timeout_s = 10;
  const auto args =
      train_args("killed", {"--epochs", "20", "--batch-size", "4", "--set", "export.onnx=false",
                            "--set", "train.distributed.timeout_s=" + std::to_string(k_timeout_s)});
  const int port = vision::net::free_loopback_port();
  auto rank0 = start_rank(0, port, args);
  auto rank1 = start_rank(1, port, args);
  fs::path last;
  ASSERT_TRUE(vision::test::wait_until(
      [&] {
        const auto models = *s_dir / "killed" / "models";
        if (!fs::is_directory(models)) return false;
        last = rank0_folder("killed", "models") / "last.pt";
        return fs::is_regular_file(last);
      },
      120))
      << rank0->err();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // into the next epoch
  rank1->signal(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(vision::test::wait_until([&] { return !rank0->running(); }, k_timeout_s + 20))
      << rank0->err();
  EXPECT_LT(std::chrono::steady_clock::now() - killed, std::chrono::seconds(k_timeout_s + 5));
  EXPECT_NE(rank0->stop(SIGTERM), 0) << rank0->err();
  EXPECT_NE(rank0->err().find("peer rank"), std::string::npos) << rank0->err();
  auto checkpoint = vision::train::load_checkpoint(last);
  ASSERT_TRUE(checkpoint) << checkpoint.error().message;
  EXPECT_GE(checkpoint->meta.epoch, 1);
  EXPECT_LT(checkpoint->meta.epoch, 20);
}

// Backend faster_rcnn (mobilenet_v3 at 64 px, BatchNorm per rank): 1 epoch of 4 images in
// one global batch.
std::vector<std::string> faster_rcnn_args(std::vector<std::string> more) {
  std::vector<std::string> args = {"--backend", "faster_rcnn", "--epochs", "1", "--batch-size", "4",
                                   "--set", "train.faster_rcnn.max_samples=4", "--set", "train.distributed.sync_bn=false",
                                   "--set", "export.onnx=false"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::vector<std::string> two_local_ranks() {
  return {"--nproc-per-node", "2", "--master-port", std::to_string(vision::net::free_loopback_port())};
}

// The JSON lines of a workdir's log.
std::vector<nlohmann::json> log_lines(const fs::path& workdir) {
  std::vector<nlohmann::json> lines;
  std::ifstream file(workdir / "log.txt");
  for (std::string line; std::getline(file, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// One process and two ranks write the same files; best.pt loads; every rank logs a checksum of
// its trained parameters at the end, equal when the gradients were averaged and the optimiser
// steps the same; rank 1's lines all carry "rank": 1, not only those of joining and epochs.
TEST_F(DistributedTrain, FasterRcnnOnTwoRanksWritesTheFilesOfOneProcessWithTheSameWeightsOnEach) {
  const auto one = run_vision(train_args("frcnn-one", faster_rcnn_args({})));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto two = run_vision(train_args("frcnn-two", faster_rcnn_args(two_local_ranks())));
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(file_names(rank0_folder("frcnn-two", "runs")), file_names(rank0_folder("frcnn-one", "runs")));
  EXPECT_EQ(file_names(rank0_folder("frcnn-two", "models")), file_names(rank0_folder("frcnn-one", "models")));

  namespace frcnn = vision::train::faster_rcnn;
  auto spec = frcnn::variant_spec("mobilenet_v3");
  ASSERT_TRUE(spec) << spec.error().message;
  frcnn::FasterRcnn model(*spec, 4, frcnn::transform_options_for_img_size(64));
  auto loaded = frcnn::load_weights(rank0_folder("frcnn-two", "models") / "best.pt", *model);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->meta.variant, "mobilenet_v3");

  std::map<int, double> sums;
  std::set<std::string> rank1_events;
  for (const auto& line : log_lines(*s_dir / "frcnn-two")) {
    if (line["event"] == "train.distributed.weights") sums[line["rank"].get<int>()] = line["parameter_abs_sum"].get<double>();
    if (line.value("rank", -1) == 1) rank1_events.insert(line["event"].get<std::string>());
  }
  ASSERT_EQ(sums.size(), 2U) << two.err;
  EXPECT_GT(sums[0], 0);
  EXPECT_NEAR(sums[1], sums[0], 1e-9 * sums[0]);
  EXPECT_TRUE(rank1_events.contains("train.start")) << two.err;
  EXPECT_TRUE(rank1_events.contains("train.optimizer")) << two.err;
}

// A rank that fails (here on a setting this backend does not take) ends the launcher with that
// rank's own exit code, 2 for a config error, and the key named.
TEST_F(DistributedTrain, LauncherExitsWithTheFailedRanksOwnCode) {
  auto args = faster_rcnn_args({"--set", "train.distributed.sync_bn=true"});
  const auto ranks = two_local_ranks();
  args.insert(args.end(), ranks.begin(), ranks.end());
  const auto result = run_vision(train_args("frcnn-sync", args));
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("train.distributed.sync_bn"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("exited with code 2"), std::string::npos) << result.err;
}

}  // namespace
