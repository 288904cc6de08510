// `vision train` with backend faster_rcnn around its loop, quick cases: a dry run writes best.pt
// and last.pt with the samples' skip counts in artifacts and exports best.pt to model.onnx (FP32
// only; predict on the checkpoint names the export), and weights of another variant in
// train.faster_rcnn.weights are an error naming the key.
#include <gtest/gtest.h>

#include "helpers/test_support.hpp"

namespace fs = std::filesystem;
using vision::test::printed_artifacts;
using vision::test::run_vision;
using vision::test::TempDir;

namespace {

class FasterRcnnTrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(run_vision({"datagen", "--out", (m_dir / "data").string(), "--train", "4", "--val", "2", "--size", "128"}).exit_code, 0);
  }
  vision::test::ProcessResult train(std::vector<std::string> more) const {
    std::vector<std::string> args = {"train", "--workdir", (m_dir / "wd").string(), "--data", (m_dir / "data").string(),
                                     "--backend", "faster_rcnn", "--img-size", "128", "--batch-size", "2", "--set",
                                     "class_map.names=[circle,square,triangle,star]"};
    args.insert(args.end(), more.begin(), more.end());
    return run_vision(args);
  }
  TempDir m_dir;
};

}  // namespace

TEST_F(FasterRcnnTrainCli, DryRunWritesCheckpointsAndSampleCounts) {
  const auto result = train({"--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto artifacts = printed_artifacts(result)["artifacts"];
  EXPECT_EQ(artifacts["dry_run"], true);
  EXPECT_EQ(artifacts["epochs_trained"], 0);
  EXPECT_TRUE(fs::is_regular_file(artifacts["best_pt"].get<std::string>()));
  EXPECT_TRUE(fs::is_regular_file(artifacts["last_pt"].get<std::string>()));
  EXPECT_EQ(artifacts["samples"]["source"], "yolo_dataset");
  EXPECT_EQ(artifacts["samples"]["val"], 2);
  EXPECT_TRUE(artifacts["samples"].contains("skipped_by_reason"));
  EXPECT_EQ(artifacts["optimizer"]["name"], "SGD");
  EXPECT_TRUE(fs::is_regular_file(artifacts["model_path"].get<std::string>()));
  EXPECT_TRUE(artifacts["model_int8_path"].is_null());
  EXPECT_FALSE(artifacts["export"]["int8_skipped"].get<std::string>().empty());
  EXPECT_TRUE(fs::is_symlink(m_dir / "wd" / "models" / "exp001"));

  // predict runs ONNX models: a checkpoint is a usage error that names the export.
  const auto predicted = run_vision({"predict", "--workdir", (m_dir / "wd").string(), "--model",
                                     artifacts["best_pt"].get<std::string>(), "--source", (m_dir / "data").string()});
  EXPECT_EQ(predicted.exit_code, 2) << predicted.err;
  EXPECT_NE(predicted.err.find("vision export --model"), std::string::npos) << predicted.err;
}

TEST_F(FasterRcnnTrainCli, WeightsOfAnotherVariantNameTheKey) {
  const auto first = train({"--dry-run"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string best = printed_artifacts(first)["artifacts"]["best_pt"];
  const auto result = train({"--dry-run", "--set", "train.faster_rcnn.variant=resnet18_fpn", "--set",
                             "train.faster_rcnn.weights=" + best});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("train.faster_rcnn.weights"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("mobilenet_v3"), std::string::npos) << result.err;
}
