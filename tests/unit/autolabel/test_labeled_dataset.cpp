// The labeled data set writer: images, labels, records, previews, on_conflict and the
// dataset files that make the folder trainable.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/autolabel/labeled_dataset.hpp"
#include "vision/data/yolo_dataset.hpp"

namespace fs = std::filesystem;
using vision::Detection;
using vision::LabeledDatasetWriter;
using vision::OnConflict;
using vision::test::read_text;
using vision::test::TempDir;

namespace {

const std::vector<std::string> k_names = {"cat", "dog"};

// A 200×100 source image on disk and its labeled form.
vision::LabeledImage labeled(const TempDir& dir, const std::string& relative, std::vector<Detection> detections) {
  const fs::path source = dir / "unlabeled" / relative;
  fs::create_directories(source.parent_path());
  const cv::Mat image(100, 200, CV_8UC3, cv::Scalar(40, 80, 120));
  cv::imwrite(source.string(), image);
  return {source, relative, image, std::move(detections), "model:/m.onnx"};
}

}  // namespace

TEST(LabeledDataset, WritesImageLabelRecordAndPreview) {
  TempDir dir;
  LabeledDatasetWriter writer(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::skip, .visualize = true});
  ASSERT_TRUE(writer.write(labeled(dir, "sub/a.jpg", {{1, "dog", 0.8F, {20, 10, 60, 50}}})));
  EXPECT_TRUE(fs::exists(dir / "labeled/images/sub/a.jpg"));
  EXPECT_TRUE(fs::exists(dir / "labeled/previews/sub/a.jpg"));
  // cx = 40/200, cy = 30/100, w = 40/200, h = 40/100
  EXPECT_EQ(read_text(dir / "labeled/labels/sub/a.txt"), "1 0.200000 0.300000 0.200000 0.400000\n");
  const auto record = vision::label_record_from_json(vision::test::read_json(dir / "labeled/records/sub/a.json"));
  ASSERT_TRUE(record) << record.error().message;
  EXPECT_EQ(record->image_path, "images/sub/a.jpg");
  EXPECT_EQ(record->source, "model:/m.onnx");
  ASSERT_EQ(record->detections.size(), 1U);
  EXPECT_FLOAT_EQ(record->detections[0].score, 0.8F);
  EXPECT_EQ(writer.counts().created, 1);
  EXPECT_EQ(writer.counts().detections, 1);
}

TEST(LabeledDataset, ImageWithoutDetectionsGetsAnEmptyLabelFile) {
  TempDir dir;
  LabeledDatasetWriter writer(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::skip, .visualize = false});
  ASSERT_TRUE(writer.write(labeled(dir, "empty.png", {})));
  ASSERT_TRUE(fs::exists(dir / "labeled/labels/empty.txt"));
  EXPECT_EQ(fs::file_size(dir / "labeled/labels/empty.txt"), 0U);
  EXPECT_FALSE(fs::exists(dir / "labeled/previews"));
}

TEST(LabeledDataset, SkipKeepsExistingLabels) {
  TempDir dir;
  LabeledDatasetWriter first(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::skip, .visualize = false});
  ASSERT_TRUE(first.write(labeled(dir, "a.jpg", {{0, "cat", 0.9F, {0, 0, 10, 10}}})));
  LabeledDatasetWriter second(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::skip, .visualize = false});
  EXPECT_TRUE(second.should_skip("a.jpg", dir / "unlabeled/a.jpg"));
  EXPECT_FALSE(second.should_skip("b.jpg", dir / "unlabeled/b.jpg"));
  LabeledDatasetWriter overwrite(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::overwrite, .visualize = false});
  EXPECT_FALSE(overwrite.should_skip("a.jpg", dir / "unlabeled/a.jpg"));
}

TEST(LabeledDataset, OverwriteReplacesTheLabels) {
  TempDir dir;
  LabeledDatasetWriter first(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::overwrite, .visualize = false});
  ASSERT_TRUE(first.write(labeled(dir, "a.jpg", {{0, "cat", 0.9F, {0, 0, 10, 10}}})));
  LabeledDatasetWriter second(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::overwrite, .visualize = false});
  ASSERT_TRUE(second.write(labeled(dir, "a.jpg", {{1, "dog", 0.7F, {100, 50, 200, 100}}})));
  EXPECT_EQ(read_text(dir / "labeled/labels/a.txt"), "1 0.750000 0.750000 0.500000 0.500000\n");
  EXPECT_EQ(second.counts().overwritten, 1);
  EXPECT_EQ(second.counts().created, 0);
}

TEST(LabeledDataset, MergeAddsOnlyBoxesThatDoNotOverlapTheSameClass) {
  TempDir dir;
  LabeledDatasetWriter first(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::merge, .visualize = false});
  ASSERT_TRUE(first.write(labeled(dir, "a.jpg", {{0, "cat", 0.9F, {0, 0, 100, 100}}})));
  LabeledDatasetWriter second(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::merge, .visualize = false});
  ASSERT_TRUE(second.write(labeled(dir, "a.jpg", {
      {0, "cat", 0.8F, {10, 0, 100, 100}},    // IoU 0.9 with the cat: dropped
      {1, "dog", 0.8F, {10, 0, 100, 100}},    // same place, other class: added
      {0, "cat", 0.7F, {120, 0, 200, 100}},   // no overlap: added
      {0, "cat", 0.6F, {50, 0, 150, 100}},    // IoU 1/3 with the cat: added
  })));
  const std::string labels = read_text(dir / "labeled/labels/a.txt");
  EXPECT_EQ(std::count(labels.begin(), labels.end(), '\n'), 4) << labels;
  EXPECT_EQ(labels.substr(0, labels.find('\n')), "0 0.250000 0.500000 0.500000 1.000000");  // kept first
  EXPECT_EQ(second.counts().merged, 1);
  EXPECT_EQ(second.counts().detections, 3);
  const auto record = vision::label_record_from_json(vision::test::read_json(dir / "labeled/records/a.json"));
  ASSERT_TRUE(record);
  ASSERT_EQ(record->detections.size(), 4U);
  EXPECT_FLOAT_EQ(record->detections[0].score, 0.9F);  // the old record's score survives
}

TEST(LabeledDataset, SameStemInOneFolderIsReportedNotOverwritten) {
  TempDir dir;
  LabeledDatasetWriter writer(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::overwrite, .visualize = false});
  ASSERT_TRUE(writer.write(labeled(dir, "x.jpg", {})));
  auto second = writer.write(labeled(dir, "x.png", {}));
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("x.png"), std::string::npos);
}

TEST(LabeledDataset, DatasetFilesMakeATrainableSet) {
  TempDir dir;
  LabeledDatasetWriter writer(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::skip, .visualize = false});
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(writer.write(labeled(dir, (i % 2 ? "a/" : "b/") + std::to_string(i) + ".jpg", {{0, "cat", 0.9F, {0, 0, 10, 10}}})));
  }
  ASSERT_TRUE(writer.write_dataset_files(0.2));
  const std::string train = read_text(dir / "labeled/train.txt");
  const std::string val = read_text(dir / "labeled/val.txt");
  EXPECT_EQ(std::count(train.begin(), train.end(), '\n') + std::count(val.begin(), val.end(), '\n'), 20);
  EXPECT_FALSE(val.empty());
  ASSERT_TRUE(writer.write_dataset_files(0.2));
  EXPECT_EQ(read_text(dir / "labeled/val.txt"), val);  // deterministic
  auto dataset = vision::load_yolo_dataset({dir / "labeled", k_names, vision::LabelStrictness::strict});
  ASSERT_TRUE(dataset) << dataset.error().message;
  EXPECT_EQ(dataset->train.size() + dataset->val.size(), 20U);
  EXPECT_EQ(dataset->train[0].boxes.size(), 1U);
}

TEST(LabeledDataset, TwoImagesStillGiveBothSplits) {
  TempDir dir;
  LabeledDatasetWriter writer(dir / "labeled", {.class_names = k_names, .on_conflict = OnConflict::skip, .visualize = false});
  ASSERT_TRUE(writer.write(labeled(dir, "one.jpg", {})));
  ASSERT_TRUE(writer.write(labeled(dir, "two.jpg", {})));
  ASSERT_TRUE(writer.write_dataset_files(0.2));
  EXPECT_FALSE(read_text(dir / "labeled/train.txt").empty());
  EXPECT_FALSE(read_text(dir / "labeled/val.txt").empty());
}
