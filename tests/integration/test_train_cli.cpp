// Quick checks of `vision train` around the training loop: dry run, devices this build lacks,
// resume without a checkpoint, checkpoints that are not ours, and the export of a trained model.
#include <gtest/gtest.h>

#include <algorithm>

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
  vision::test::ProcessResult train(std::vector<std::string> more) const {
    std::vector<std::string> args = {"train", "--workdir", (m_dir / "wd").string(), "--data", (m_dir / "data").string(),
                                     "--img-size", "64", "--batch-size", "4", "--set",
                                     "class_map.names=[circle,square,triangle,star]", "--set", "export.quantize=false"};
    args.insert(args.end(), more.begin(), more.end());
    return run_vision(args);
  }
  nlohmann::json run_file(const char* name) const { return read_json(vision::test::only_run_dir(m_dir / "wd") / name); }
  TempDir m_dir;
};

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
  EXPECT_LE(artifacts["export"]["parity"]["max_score_diff"].get<double>(), 1e-4);
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
  EXPECT_LE(parity["max_box_diff"].get<double>(), 1e-3);
  EXPECT_LE(parity["max_score_diff"].get<double>(), 1e-4);

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
