// Quick checks of `vision train` around the training loop: dry run, devices this build lacks,
// resume without a checkpoint, checkpoints that are not ours, the export of a trained model, and
// the data-parallel errors a rank finds before it trains.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iterator>
#include <sstream>

#include "helpers/test_support.hpp"
#include "vision/infer/detector.hpp"

namespace fs = std::filesystem;
using vision::test::read_json;
using vision::test::run_vision;
using vision::test::TempDir;
using vision::test::write_text;

namespace {

class TrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run_vision({"datagen", "--out", (m_dir / "data").string(), "--train", "6", "--val", "2", "--size", "64"}).exit_code, 0);
  }
  std::vector<std::string> train_args(std::vector<std::string> more) const {
    std::vector<std::string> args = {"train", "--workdir", (m_dir / "wd").string(), "--data", (m_dir / "data").string(),
                                     "--img-size", "64", "--batch-size", "4", "--set",
                                     "class_map.names=[circle,square,triangle,star]", "--set", "export.quantize=false"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  vision::test::ProcessResult train(std::vector<std::string> more) const { return run_vision(train_args(std::move(more))); }
  nlohmann::json run_file(const char* name) const { return read_json(vision::test::only_run_dir(m_dir / "wd") / name); }
  TempDir m_dir;
};

// The words of a command a message suggests ("vision train --config …"), without "vision".
std::vector<std::string> command_words(const std::string& command) {
  std::vector<std::string> words;
  std::istringstream in(command);
  for (std::string word; in >> word;) words.push_back(word);
  if (!words.empty() && words.front() == "vision") words.erase(words.begin());
  return words;
}

}  // namespace

TEST_F(TrainCli, DryRunRunsOneBatchAndExports) {
  const auto result = train({"--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto artifacts = run_file("artifacts.json")["artifacts"];
  EXPECT_EQ(artifacts["dry_run"], true);
  EXPECT_EQ(artifacts["epochs_trained"], 0);
  EXPECT_TRUE(fs::is_regular_file(artifacts["best_pt"].get<std::string>()));
  EXPECT_TRUE(fs::is_regular_file(artifacts["model_path"].get<std::string>()));
  EXPECT_TRUE(artifacts["model_int8_path"].is_null());  // export.quantize = false
  EXPECT_LE(artifacts["export"]["parity"]["score_margin"].get<double>(), 1);
  // models/<run_name> leads to the newest export, as the Python original's paths expect.
  const fs::path latest = m_dir / "wd" / "models" / "exp001";
  EXPECT_TRUE(fs::is_symlink(latest));
  EXPECT_TRUE(fs::equivalent(latest / "model.onnx", artifacts["model_path"].get<std::string>()));
}

TEST_F(TrainCli, Bf16PrecisionRunsOnCpusThatHaveItAndFallsBackWithAReasonElsewhere) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  const std::string flags((std::istreambuf_iterator<char>(cpuinfo)), std::istreambuf_iterator<char>());
  const bool native = flags.find(" avx512_bf16") != std::string::npos || flags.find(" amx_bf16") != std::string::npos;
  const auto result = train({"--dry-run", "--set", "train.yolo.precision=bf16"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find(native ? "runs under bf16 autocast" : "training in fp32"), std::string::npos) << result.err;
}

TEST_F(TrainCli, DeviceThisBuildLacksIsAClearError) {
  const auto result = train({"--device", "mps"});
  EXPECT_EQ(result.exit_code, 3) << result.err;
  EXPECT_NE(run_file("metrics.json")["error"].get<std::string>().find("train.device"), std::string::npos);
}

TEST_F(TrainCli, ResumeWithoutALastCheckpointSaysWhereItLooked) {
  const auto result = train({"--set", "train.yolo.resume=true"});
  EXPECT_EQ(result.exit_code, 1);
  const auto error = run_file("metrics.json")["error"].get<std::string>();
  EXPECT_NE(error.find("last.pt"), std::string::npos) << error;
  EXPECT_NE(error.find("models"), std::string::npos) << error;
}

TEST_F(TrainCli, ForeignCheckpointsAreRejectedByName) {
  write_text(m_dir / "yolov8n.pt", "PK\x03\x04 an Ultralytics pickle");
  const auto result = train({"--weights", (m_dir / "yolov8n.pt").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(run_file("metrics.json")["error"].get<std::string>().find("yolov8n.pt"), std::string::npos);
}

TEST_F(TrainCli, StartsFromAnUltralyticsOnnxExport) {
  const fs::path fixture = fs::path(VISION_SOURCE_DIR) / "../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";
  const auto result = train({"--dry-run", "--weights", fixture.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto weights = run_file("artifacts.json")["artifacts"]["weights"];
  EXPECT_EQ(weights["convs_loaded"], 63);
  EXPECT_EQ(weights["head_classes_reset"], false);
}

// Two epochs of training, then both exported files in ONNX Runtime: the Ultralytics layout and
// metadata, and a dynamic batch that gives each image the same output at batch 1 and 4.
TEST_F(TrainCli, TrainedModelExportsOnnxAndInt8ThatRunAtBatchOneAndFour) {
  const auto result = train({"--epochs", "2", "--set", "export.quantize=true", "--set", "export.quantize_mode=static",
                             "--set", "export.calib_samples=4"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto artifacts = run_file("artifacts.json")["artifacts"];
  EXPECT_EQ(artifacts["epochs_trained"], 2);
  const auto& parity = artifacts["export"]["parity"];
  EXPECT_EQ(parity["images"], 2);  // the whole val split: two images
  // The raw differences are kept next to the margins (difference over bound) that the check read.
  EXPECT_GE(parity["max_box_diff"].get<double>(), 0);
  EXPECT_LE(parity["box_margin"].get<double>(), 1);
  EXPECT_LE(parity["score_margin"].get<double>(), 1);
  EXPECT_EQ(parity["box_relative_bound"], 1e-4);

  const std::int64_t anchors = (8 * 8) + (4 * 4) + (2 * 2);  // 64 px at strides 8, 16, 32
  std::vector<float> batch(4 * 3 * 64 * 64);
  for (size_t i = 0; i < batch.size(); ++i) batch[i] = static_cast<float>((i * 7919) % 256) / 255.0F;
  for (const char* key : {"model_path", "model_int8_path"}) {
    SCOPED_TRACE(key);
    auto detector = vision::Detector::open({.model_path = artifacts[key].get<std::string>(), .threads = 1, .device = "cpu"});
    ASSERT_TRUE(detector) << detector.error().message;
    const auto& info = (*detector)->model();
    EXPECT_TRUE(info.dynamic_batch);
    EXPECT_EQ(info.input_name, "images");
    EXPECT_EQ(info.output_names, std::vector<std::string>{"output0"});
    EXPECT_EQ(info.names, (std::vector<std::string>{"circle", "square", "triangle", "star"}));
    EXPECT_EQ(info.metadata.at("task"), "detect");
    EXPECT_EQ(info.metadata.at("stride"), "32");
    EXPECT_EQ(info.metadata.at("imgsz"), "[64, 64]");
    EXPECT_EQ(info.metadata.at("run_id"), vision::test::only_run_dir(m_dir / "wd").filename().string());
    EXPECT_FALSE(info.metadata.at("vision_version").empty());

    const auto four = (*detector)->run_raw_output(batch.data(), 4);
    ASSERT_TRUE(four) << four.error().message;
    EXPECT_EQ(four->shape, (std::vector<std::int64_t>{4, 8, anchors}));
    const auto one = (*detector)->run_raw_output(batch.data(), 1);
    ASSERT_TRUE(one) << one.error().message;
    ASSERT_EQ(one->shape, (std::vector<std::int64_t>{1, 8, anchors}));
    double difference = 0;
    for (size_t i = 0; i < one->values.size(); ++i) {
      difference = std::max(difference, static_cast<double>(std::abs(one->values[i] - four->values[i])));
    }
    EXPECT_LE(difference, 1e-3);
  }
}

// An export that fails after a finished training leaves the training standing: exit 4, status
// export_failed, both checkpoints kept, and a message whose command retries the export.
TEST_F(TrainCli, AFailedExportKeepsTheTrainingAndSaysHowToRetry) {
  vision::test::BackgroundProcess training(
      VISION_BINARY, {"train", "--workdir", (m_dir / "wd").string(), "--data", (m_dir / "data").string(), "--img-size", "64",
                      "--batch-size", "4", "--epochs", "2", "--set", "class_map.names=[circle,square,triangle,star]"});
  // The run's models folder appears when training starts; a folder where model.onnx belongs
  // makes the export fail however the ONNX file is written.
  fs::path blocker;
  ASSERT_TRUE(vision::test::wait_until(
      [&] {
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(m_dir / "wd" / "models", ec)) blocker = entry.path() / "model.onnx";
        return !blocker.empty() && fs::create_directories(blocker / "occupied");
      },
      60));
  ASSERT_TRUE(vision::test::wait_until([&] { return !training.running(); }, 300));
  EXPECT_EQ(training.stop(SIGTERM), 4) << training.err();

  const auto metrics = run_file("metrics.json");
  EXPECT_EQ(metrics["status"], "export_failed");
  const auto artifacts = run_file("artifacts.json");
  EXPECT_EQ(artifacts["status"], "export_failed");
  EXPECT_EQ(artifacts["artifacts"]["epochs_trained"], 2);
  EXPECT_TRUE(fs::is_regular_file(artifacts["artifacts"]["best_pt"].get<std::string>()));
  EXPECT_TRUE(fs::is_regular_file(artifacts["artifacts"]["last_pt"].get<std::string>()));
  EXPECT_TRUE(fs::is_regular_file(artifacts["artifacts"]["results_csv"].get<std::string>()));
  EXPECT_TRUE(artifacts["artifacts"]["model_path"].is_null());
  EXPECT_TRUE(artifacts["artifacts"]["export"].contains("error"));

  // The message ends with the one command that retries the export; it works once the way is clear.
  const std::string error = metrics["error"].get<std::string>();
  const auto retry = error.find("vision export ");
  ASSERT_NE(retry, std::string::npos) << error;
  EXPECT_NE(training.err().find(error.substr(retry)), std::string::npos) << training.err();
  fs::remove_all(blocker);
  const auto retried = run_vision(command_words(error.substr(retry)));
  ASSERT_EQ(retried.exit_code, 0) << retried.err;
  const auto exported = vision::test::printed_artifacts(retried)["artifacts"];
  EXPECT_TRUE(fs::is_regular_file(exported["model_path"].get<std::string>()));
  EXPECT_TRUE(fs::is_regular_file(exported["model_int8_path"].get<std::string>()));
}

// Ctrl+C after the first epoch, then the command the message gives, with one more epoch: the
// resumed run completes with rc 0 and a best.pt (carried over when no resumed epoch beats it).
TEST_F(TrainCli, AnInterruptedTrainingResumesToCompletion) {
  vision::test::BackgroundProcess training(VISION_BINARY, train_args({"--epochs", "300"}));
  const auto last_pt_written = [&] {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(m_dir / "wd" / "models", ec)) {
      if (fs::exists(entry.path() / "last.pt")) return true;
    }
    return false;
  };
  ASSERT_TRUE(vision::test::wait_until(last_pt_written, 120)) << training.err();
  EXPECT_EQ(training.stop(SIGINT, 60), 130) << training.err();
  const std::string err = training.err();
  EXPECT_EQ(err.find("[ERROR]"), std::string::npos) << "Ctrl+C is the normal way to stop:\n" << err;
  EXPECT_NE(err.find("[WARN]"), std::string::npos) << err;

  const auto stopped = run_file("artifacts.json");
  EXPECT_EQ(stopped["status"], "interrupted");
  const int finished = stopped["artifacts"]["epochs_trained"].get<int>();
  EXPECT_GE(finished, 1);
  EXPECT_TRUE(fs::is_regular_file(stopped["artifacts"]["last_pt"].get<std::string>()));
  EXPECT_TRUE(fs::is_regular_file(stopped["artifacts"]["best_pt"].get<std::string>()));
  const std::string error = stopped["error"].get<std::string>();
  EXPECT_NE(error.find("after " + std::to_string(finished) + (finished == 1 ? " epoch " : " epochs ")), std::string::npos) << error;
  const auto resume = error.find("vision train ");
  ASSERT_NE(resume, std::string::npos) << error;

  auto args = command_words(error.substr(resume));
  args.insert(args.end(), {"--epochs", std::to_string(finished + 1)});
  const auto resumed = run_vision(args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto artifacts = vision::test::printed_artifacts(resumed)["artifacts"];
  EXPECT_EQ(artifacts["epochs_trained"], finished + 1);
  EXPECT_EQ(artifacts["weights"]["start_epoch"], finished + 1);
  EXPECT_TRUE(fs::is_regular_file(artifacts["best_pt"].get<std::string>()));
  EXPECT_TRUE(fs::is_regular_file(artifacts["model_path"].get<std::string>()));
}

// Images without label files are backgrounds: some are a counted warning, none at all an error.
TEST_F(TrainCli, MissingLabelFilesAreCountedAndAllMissingFails) {
  std::vector<fs::path> labels;
  for (const auto& entry : fs::directory_iterator(m_dir / "data" / "labels" / "train")) labels.push_back(entry.path());
  ASSERT_EQ(labels.size(), 6U);
  fs::remove(labels[0]);
  fs::remove(labels[1]);
  const auto some = train({"--dry-run"});
  ASSERT_EQ(some.exit_code, 0) << some.err;
  EXPECT_NE(some.err.find("2 of 6 train images have no label file"), std::string::npos) << some.err;
  EXPECT_EQ(run_file("artifacts.json")["artifacts"]["dataset"]["train"]["unlabeled"], 2);

  fs::remove_all(m_dir / "data" / "labels");
  for (const char* command : {"train", "val"}) {
    SCOPED_TRACE(command);
    const auto none = command == std::string("train")
                          ? train({"--dry-run"})
                          : run_vision({"val", "--workdir", (m_dir / "wd").string(), "--data", (m_dir / "data").string(),
                                        "--model", (fs::path(VISION_SOURCE_DIR) / "../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx").string(),
                                        "--set", "class_map.names=[circle,square,triangle,star]"});
    EXPECT_EQ(none.exit_code, 1) << none.err;
    EXPECT_NE(none.err.find("no labels found"), std::string::npos) << none.err;
    EXPECT_NE(none.err.find((m_dir / "data").string()), std::string::npos) << none.err;
  }
}

// Ultralytics users pass the yaml itself (`data=coco.yaml`): it is taken as the data set.
TEST_F(TrainCli, TheDatasetYamlItselfIsAccepted) {
  ASSERT_TRUE(fs::exists(m_dir / "data" / "dataset.yaml"));
  auto args = train_args({"--dry-run"});
  args[4] = (m_dir / "data" / "dataset.yaml").string();
  const auto result = run_vision(args);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(run_file("artifacts.json")["artifacts"]["dataset"]["yaml"], (m_dir / "data" / "dataset.yaml").string());
}

// Data parallel: errors each rank finds before it trains end the launcher with the rank named.
TEST_F(TrainCli, AGlobalBatchThatDoesNotDivideAmongTheRanksIsAConfigError) {
  const auto result = train({"--nproc-per-node", "3"});  // batch 4
  EXPECT_EQ(result.exit_code, 2);  // the failed rank's own code: a config error
  EXPECT_NE(result.err.find("train.batch_size 4 does not divide into 3 ranks"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("rank"), std::string::npos) << result.err;
}

// Faster R-CNN trains on several ranks by the same rule: the global batch is shared equally.
TEST_F(TrainCli, FasterRcnnOnSeveralRanksSharesTheGlobalBatch) {
  const auto result = train({"--backend", "faster_rcnn", "--nproc-per-node", "3"});  // batch 4
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("train.batch_size 4 does not divide into 3 ranks"), std::string::npos) << result.err;
}
