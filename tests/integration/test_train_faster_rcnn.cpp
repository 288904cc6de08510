// `vision train` with backend faster_rcnn for real (mobilenet_v3, 128 px, 8 images): one epoch
// writes best.pt, last.pt and results.csv with this backend's columns; `vision val` on best.pt
// gives metrics; resume continues at epoch 2; Ctrl+C keeps last.pt.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>

#include "helpers/test_support.hpp"

namespace fs = std::filesystem;
using vision::test::printed_artifacts;
using vision::test::run_vision;
using vision::test::TempDir;

namespace {

class FasterRcnnTraining : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run_vision({"datagen", "--out", (m_dir / "data").string(), "--train", "8", "--val", "2", "--size", "128"}).exit_code, 0);
  }
  std::vector<std::string> args(const std::string& command, std::vector<std::string> more) const {
    std::vector<std::string> all = {command, "--workdir", (m_dir / "wd").string(), "--data", (m_dir / "data").string(),
                                    "--set", "class_map.names=[circle,square,triangle,star]"};
    // val reads the checkpoint's kind from the file, whatever train.backend says.
    if (command == "train") all.insert(all.end(), {"--backend", "faster_rcnn", "--img-size", "128", "--batch-size", "2"});
    all.insert(all.end(), more.begin(), more.end());
    return all;
  }
  TempDir m_dir;
};

std::string first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

TEST_F(FasterRcnnTraining, OneEpochThenValThenResume) {
  const auto trained = run_vision(args("train", {"--epochs", "1"}));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const auto artifacts = printed_artifacts(trained)["artifacts"];
  EXPECT_EQ(artifacts["epochs_trained"], 1);
  EXPECT_EQ(artifacts["best_epoch"], 1);
  const std::string best = artifacts["best_pt"];
  const std::string last = artifacts["last_pt"];
  EXPECT_TRUE(fs::is_regular_file(best));
  EXPECT_TRUE(fs::is_regular_file(last));
  EXPECT_EQ(first_line(artifacts["results_csv"].get<std::string>()),
            "epoch,train/loss_objectness,train/loss_rpn_box_reg,train/loss_classifier,train/loss_box_reg,"
            "metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B),lr/pg0");
  EXPECT_EQ(artifacts["samples"]["train"], 8);
  EXPECT_TRUE(artifacts["samples"].contains("skipped_by_reason"));
  EXPECT_EQ(artifacts["plots"].size(), 3U);

  const auto val = run_vision(args("val", {"--model", best}));
  ASSERT_EQ(val.exit_code, 0) << val.err;
  const auto metrics = printed_artifacts(val)["artifacts"];
  EXPECT_TRUE(metrics.contains("map50"));
  EXPECT_EQ(metrics["metrics"]["images"], 2);

  const auto resumed = run_vision(args("train", {"--epochs", "2", "--set", "train.faster_rcnn.resume=true", "--set",
                                                 "train.faster_rcnn.weights=" + last}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto again = printed_artifacts(resumed)["artifacts"];
  EXPECT_EQ(again["weights"]["start_epoch"], 2);
  EXPECT_EQ(again["epochs_trained"], 2);
  EXPECT_EQ(again["epochs"].size(), 2U);
}

TEST_F(FasterRcnnTraining, AnInterruptKeepsLastPt) {
  vision::test::BackgroundProcess training(VISION_BINARY, args("train", {"--epochs", "300"}));
  const auto last_pt_written = [&] {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(m_dir / "wd" / "models", ec)) {
      if (fs::exists(entry.path() / "last.pt")) return true;
    }
    return false;
  };
  ASSERT_TRUE(vision::test::wait_until(last_pt_written, 300)) << training.err();
  EXPECT_EQ(training.stop(SIGINT, 120), 130) << training.err();
  const auto stopped = vision::test::read_json(vision::test::only_run_dir(m_dir / "wd") / "artifacts.json");
  EXPECT_EQ(stopped["status"], "interrupted");
  EXPECT_TRUE(fs::is_regular_file(stopped["artifacts"]["last_pt"].get<std::string>()));
  EXPECT_NE(stopped["error"].get<std::string>().find("train.faster_rcnn.resume=true"), std::string::npos);
}
