// The Faster R-CNN backend end to end with the real binary (issue #18's acceptance): two epochs
// of mobilenet_v3 on a generated shapes set write best.pt, last.pt and results.csv and export
// model.onnx (FP32, parity with LibTorch on four val images); `vision val` gives metrics on
// best.pt; `vision export --model best.pt` works whatever train.backend says; `vision autolabel`
// with the export writes labels.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"

namespace fs = std::filesystem;
using vision::test::printed_artifacts;
using vision::test::run_vision;
using vision::test::TempDir;

namespace {

const std::string k_names = "class_map.names=[circle,square,triangle,star]";

}  // namespace

TEST(FasterRcnnPipeline, TrainValExportAutolabel) {
  TempDir dir;
  ASSERT_EQ(run_vision({"datagen", "--out", (dir / "data").string(), "--train", "16", "--val", "4", "--size", "160"}).exit_code, 0);
  const auto trained = run_vision({"train", "--workdir", (dir / "wd").string(), "--data", (dir / "data").string(), "--set",
                                   k_names, "--backend", "faster_rcnn", "--epochs", "2", "--img-size", "160",
                                   "--batch-size", "2"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const auto artifacts = printed_artifacts(trained)["artifacts"];
  EXPECT_EQ(artifacts["epochs_trained"], 2);
  const std::string best = artifacts["best_pt"];
  EXPECT_TRUE(fs::is_regular_file(best));
  EXPECT_TRUE(fs::is_regular_file(artifacts["last_pt"].get<std::string>()));
  EXPECT_TRUE(fs::is_regular_file(artifacts["results_csv"].get<std::string>()));

  // The training's export: model.onnx proven on four val images, no INT8 file and why.
  const std::string onnx = artifacts["model_path"];
  EXPECT_TRUE(fs::is_regular_file(onnx));
  EXPECT_TRUE(artifacts["model_int8_path"].is_null());
  const auto exported = artifacts["export"];
  EXPECT_FALSE(exported["int8_skipped"].get<std::string>().empty());
  EXPECT_EQ(exported["parity"]["images"], 4);
  // The parity runs both models at their own score threshold (box_score_thresh 0.05): it must
  // have compared detections, not two empty lists.
  EXPECT_GT(exported["parity"]["detections"].get<int>(), 0);
  EXPECT_LE(exported["parity"]["max_box_diff"].get<double>(), 1e-2);
  EXPECT_LE(exported["parity"]["box_margin"].get<double>(), 1.0);
  EXPECT_TRUE(fs::is_symlink(dir / "wd" / "models" / "exp001"));

  const auto val = run_vision({"val", "--workdir", (dir / "wd").string(), "--data", (dir / "data").string(), "--set",
                               k_names, "--model", best});
  ASSERT_EQ(val.exit_code, 0) << val.err;
  EXPECT_EQ(printed_artifacts(val)["artifacts"]["metrics"]["images"], 4);

  // train.backend is yolo here (the default): the file says it is a Faster R-CNN checkpoint.
  const auto again = run_vision({"export", "--workdir", (dir / "wd").string(), "--data", (dir / "data").string(),
                                 "--set", k_names, "--model", best});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(printed_artifacts(again)["artifacts"]["export"]["parity"]["images"], 4);

  for (int i = 0; i < 3; ++i) {
    const auto sample = vision::make_shape_sample(static_cast<std::uint64_t>(100 + i), {160, 1, 3});
    fs::create_directories(dir / "unlabeled");
    cv::imwrite((dir / "unlabeled" / ("frame" + std::to_string(i) + ".jpg")).string(), sample.image);
  }
  // Two epochs on 16 images leave scores low: a confidence of 0.01 still lets the test see the
  // labels written (an image without detections gets an empty label file all the same).
  const auto labeled = run_vision({"autolabel", "--workdir", (dir / "wd").string(), "--model", onnx, "--set", k_names,
                                   "--set", "autolabel.model.backend=faster_rcnn", "--set",
                                   "data.unlabeled_dir=" + (dir / "unlabeled").string(), "--set",
                                   "data.labeled_dir=" + (dir / "labeled").string(), "--conf", "0.01"});
  ASSERT_EQ(labeled.exit_code, 0) << labeled.err;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(fs::exists(dir / "labeled/labels" / ("frame" + std::to_string(i) + ".txt"))) << i;
  }
}
