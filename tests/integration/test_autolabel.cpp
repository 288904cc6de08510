// `vision autolabel` end to end with the real binary and a real Ultralytics model: sub-folders
// with equal file names, a corrupt file, skip / merge, and `vision train` reading the result.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"

namespace fs = std::filesystem;
using vision::test::read_json;
using vision::test::read_text;
using vision::test::run_vision;
using vision::test::TempDir;

namespace {

const std::string k_model = (fs::path(VISION_SOURCE_DIR).parent_path() / "shared/fixtures/ultralytics-yolov8n-shapes-320.onnx").string();

class Autolabel : public testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 6; ++i) {
      for (const char* folder : {"cam1", "cam2"}) {
        const auto sample = vision::make_shape_sample(static_cast<std::uint64_t>(i * 10 + folder[3]), {320, 2, 5});
        fs::create_directories(m_dir / "unlabeled" / folder);
        cv::imwrite((m_dir / "unlabeled" / folder / ("frame" + std::to_string(i) + ".jpg")).string(), sample.image);
      }
    }
    vision::test::write_text(m_dir / "unlabeled/cam1/broken.jpg", "not an image");
    vision::test::write_text(m_dir / "unlabeled/notes.txt", "ignored");
  }

  vision::test::ProcessResult autolabel(const std::string& on_conflict) {
    TempDir workdir;
    auto result = run_vision({"autolabel", "--workdir", (m_dir / "wd").string(), "--model", k_model,
                              "--set", "class_map.names=[circle,square,triangle,star]", "--set",
                              "data.unlabeled_dir=" + (m_dir / "unlabeled").string(), "--set",
                              "data.labeled_dir=" + (m_dir / "labeled").string(), "--on-conflict", on_conflict,
                              "--conf", "0.3"});
    return result;
  }

  nlohmann::json last_artifacts() {
    fs::path newest;
    for (const auto& entry : fs::directory_iterator(m_dir / "wd/runs")) {
      if (newest.empty() || entry.path().filename() > newest.filename()) newest = entry.path();
    }
    return read_json(newest / "artifacts.json");
  }

  TempDir m_dir;
};

}  // namespace

TEST_F(Autolabel, LabelsEveryImageIntoATrainableDataset) {
  const auto result = autolabel("skip");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto artifacts = last_artifacts()["artifacts"];
  EXPECT_EQ(artifacts["images"], 13);
  EXPECT_EQ(artifacts["created"], 12);
  EXPECT_EQ(artifacts["failures"], 1);
  EXPECT_NE(artifacts["failed"][0].get<std::string>().find("broken.jpg"), std::string::npos);
  EXPECT_GT(artifacts["detections"].get<int>(), 12);
  for (const char* folder : {"cam1", "cam2"}) {
    EXPECT_TRUE(fs::exists(m_dir / "labeled/images" / folder / "frame0.jpg"));
    EXPECT_TRUE(fs::exists(m_dir / "labeled/labels" / folder / "frame0.txt"));
    EXPECT_TRUE(fs::exists(m_dir / "labeled/records" / folder / "frame0.json"));
    EXPECT_TRUE(fs::exists(m_dir / "labeled/previews" / folder / "frame0.jpg"));
  }
  EXPECT_NE(read_text(m_dir / "labeled/labels/cam1/frame0.txt"), read_text(m_dir / "labeled/labels/cam2/frame0.txt"));

  // `vision train` reads the folder as it is, and trains on it.
  const auto train = run_vision({"train", "--workdir", (m_dir / "wd2").string(), "--set",
                                 "class_map.names=[circle,square,triangle,star]", "--set",
                                 "train.yolo.strict_labels=true", "--data", (m_dir / "labeled").string(), "--epochs", "1",
                                 "--img-size", "64", "--batch-size", "4", "--set", "export.quantize=false"});
  const fs::path run = vision::test::only_run_dir(m_dir / "wd2");
  const auto train_artifacts = read_json(run / "artifacts.json")["artifacts"];
  ASSERT_TRUE(train_artifacts.contains("dataset")) << read_json(run / "metrics.json").dump();
  const auto& dataset = train_artifacts["dataset"];
  EXPECT_EQ(dataset["train"]["images"].get<int>() + dataset["val"]["images"].get<int>(), 12);
  EXPECT_GT(dataset["val"]["images"].get<int>(), 0);
  EXPECT_EQ(dataset["problems_count"], 0);
  EXPECT_EQ(dataset["train"]["boxes"].get<int>() + dataset["val"]["boxes"].get<int>(), artifacts["detections"].get<int>());
#ifdef VISION_WITH_TRAINING
  EXPECT_EQ(train.exit_code, 0) << train.err;
  EXPECT_EQ(train_artifacts["epochs_trained"], 1);
  EXPECT_TRUE(fs::is_regular_file(train_artifacts["best_pt"].get<std::string>()));
  EXPECT_TRUE(fs::is_regular_file(train_artifacts["model_path"].get<std::string>()));
#else
  EXPECT_EQ(train.exit_code, 3);
#endif
}

TEST_F(Autolabel, SkipLeavesEveryFileByteIdentical) {
  ASSERT_EQ(autolabel("skip").exit_code, 0);
  const auto before = vision::test::read_tree(m_dir / "labeled");
  const auto again = autolabel("skip");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(last_artifacts()["artifacts"]["skipped"], 12);
  EXPECT_EQ(last_artifacts()["artifacts"]["created"], 0);
  EXPECT_EQ(vision::test::read_tree(m_dir / "labeled"), before);
}

TEST_F(Autolabel, MergeAddsOnlyNonOverlappingBoxes) {
  ASSERT_EQ(autolabel("skip").exit_code, 0);
  // A hand-made box in a corner where the model finds nothing.
  const fs::path label = m_dir / "labeled/labels/cam1/frame1.txt";
  const std::string model_lines = read_text(label);
  vision::test::write_text(label, "3 0.020000 0.020000 0.030000 0.030000\n");
  ASSERT_EQ(autolabel("merge").exit_code, 0);
  const std::string merged = read_text(label);
  EXPECT_EQ(merged, "3 0.020000 0.020000 0.030000 0.030000\n" + model_lines);
  // A second merge finds only boxes that are already there.
  ASSERT_EQ(autolabel("merge").exit_code, 0);
  EXPECT_EQ(read_text(label), merged);
  EXPECT_EQ(last_artifacts()["artifacts"]["detections"], 0);
  EXPECT_EQ(last_artifacts()["artifacts"]["merged"], 12);
}
