// YOLO data sets: dataset.yaml (read and written), folders and list files, label lookup, the
// synthetic shapes set, and every error naming its file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/data/yolo_dataset.hpp"

namespace fs = std::filesystem;
using vision::test::TempDir;
using vision::test::write_text;

namespace {

void image_at(const fs::path& file) {
  fs::create_directories(file.parent_path());
  cv::imwrite(file.string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(0)));
}

vision::DatasetOptions options_for(const fs::path& dir, std::vector<std::string> names = {"a", "b"}) {
  return {dir, std::move(names), vision::LabelStrictness::lenient};
}

}  // namespace

TEST(LabelPath, FollowsUltralytics) {
  EXPECT_EQ(vision::label_path_for("/d/images/train/x.jpg"), fs::path("/d/labels/train/x.txt"));
  EXPECT_EQ(vision::label_path_for("/images/d/images/a/b.png"), fs::path("/images/d/labels/a/b.txt"));
}

TEST(YoloDataset, ReadsFoldersFromDatasetYaml) {
  TempDir dir;
  image_at(dir / "images/train/1.jpg");
  image_at(dir / "images/train/2.jpg");
  image_at(dir / "images/val/3.jpg");
  write_text(dir / "labels/train/1.txt", "0 0.5 0.5 0.2 0.2\n1 0.1 0.1 0.1 0.1\n");
  write_text(dir / "labels/val/3.txt", "1 0.5 0.5 0.2 0.2\n");
  write_text(dir / "dataset.yaml", "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: a\n  1: b\n");
  auto dataset = vision::load_yolo_dataset(options_for(dir.path()));
  ASSERT_TRUE(dataset) << dataset.error().message;
  ASSERT_EQ(dataset->train.size(), 2U);
  ASSERT_EQ(dataset->val.size(), 1U);
  EXPECT_EQ(dataset->train[0].boxes.size(), 2U);
  EXPECT_TRUE(dataset->train[1].boxes.empty());  // a background image
  const auto summary = vision::summarize(*dataset);
  EXPECT_EQ(summary["train"]["images"], 2);
  EXPECT_EQ(summary["train"]["backgrounds"], 1);
  EXPECT_EQ(summary["train"]["per_class"]["b"], 1);
  EXPECT_EQ(summary["val"]["boxes"], 1);
}

TEST(YoloDataset, ReadsUltralyticsListFiles) {
  TempDir dir;
  image_at(dir / "images/x/1.jpg");
  image_at(dir / "images/y/2.jpg");
  write_text(dir / "labels/x/1.txt", "0 0.5 0.5 0.2 0.2\n");
  write_text(dir / "labels/y/2.txt", "");  // an empty label file: a background, but labelled
  write_text(dir / "train.txt", "./images/x/1.jpg\n");
  write_text(dir / "val.txt", (dir / "images/y/2.jpg").string() + "\n");
  write_text(dir / "dataset.yaml", "path: /moved/elsewhere\ntrain: train.txt\nval: [val.txt]\nnames: [a, b]\n");
  auto dataset = vision::load_yolo_dataset(options_for(dir.path()));
  ASSERT_TRUE(dataset) << dataset.error().message;
  EXPECT_EQ(dataset->train.size(), 1U);
  EXPECT_EQ(dataset->val.size(), 1U);
  EXPECT_EQ(dataset->root, dir.path());  // `path` no longer exists: the yaml's folder is used
}

TEST(YoloDataset, FindsTheLayoutWithoutAYaml) {
  TempDir dir;
  image_at(dir / "images/train2017/1.jpg");
  image_at(dir / "images/val2017/2.jpg");
  write_text(dir / "labels/train2017/1.txt", "1 0.5 0.5 0.2 0.2\n");
  write_text(dir / "labels/val2017/2.txt", "0 0.5 0.5 0.2 0.2\n");
  auto dataset = vision::load_yolo_dataset(options_for(dir.path()));
  ASSERT_TRUE(dataset) << dataset.error().message;
  EXPECT_EQ(dataset->train.size(), 1U);
}

TEST(YoloDataset, MissingValSplitIsAnErrorNeverAFallback) {
  TempDir dir;
  image_at(dir / "images/train/1.jpg");
  write_text(dir / "dataset.yaml", "train: images/train\nnames: [a, b]\n");
  auto with_yaml = vision::load_yolo_dataset(options_for(dir.path()));
  ASSERT_FALSE(with_yaml);
  EXPECT_NE(with_yaml.error().message.find("no val split"), std::string::npos);
  fs::remove(dir / "dataset.yaml");
  auto without = vision::load_yolo_dataset(options_for(dir.path()));
  ASSERT_FALSE(without);
  EXPECT_NE(without.error().message.find("images/val"), std::string::npos);
}

TEST(YoloDataset, ErrorsNameTheProblem) {
  TempDir dir;
  image_at(dir / "images/train/1.jpg");
  image_at(dir / "images/val/2.jpg");
  write_text(dir / "dataset.yaml", "train: images/train\nval: images/val\nnames: [a, c]\n");
  auto mismatch = vision::load_yolo_dataset(options_for(dir.path()));
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("differ from class_map.names"), std::string::npos);

  write_text(dir / "dataset.yaml", "train: images/train\nval: images/nowhere\nnames: [a, b]\n");
  auto missing = vision::load_yolo_dataset(options_for(dir.path()));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("images/nowhere"), std::string::npos);

  write_text(dir / "dataset.yaml", "train: [images/train\n");
  EXPECT_FALSE(vision::load_yolo_dataset(options_for(dir.path())));

  EXPECT_FALSE(vision::load_yolo_dataset(options_for(dir / "absent")));
}

TEST(YoloDataset, BadLabelLinesAreSkippedOrFatalWithFileAndLine) {
  TempDir dir;
  image_at(dir / "images/train/1.jpg");
  image_at(dir / "images/val/2.jpg");
  write_text(dir / "labels/train/1.txt", "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n");
  write_text(dir / "labels/val/2.txt", "1 0.5 0.5 0.2 0.2\n");
  write_text(dir / "dataset.yaml", "train: images/train\nval: images/val\nnames: [a, b]\n");
  auto lenient = vision::load_yolo_dataset(options_for(dir.path()));
  ASSERT_TRUE(lenient) << lenient.error().message;
  EXPECT_EQ(lenient->train[0].boxes.size(), 1U);
  ASSERT_EQ(lenient->problems.size(), 1U);
  EXPECT_NE(lenient->problems[0].find("1.txt:2: class id 7 is not in class_map"), std::string::npos);
  auto options = options_for(dir.path());
  options.strictness = vision::LabelStrictness::strict;
  auto strict = vision::load_yolo_dataset(options);
  ASSERT_FALSE(strict);
  EXPECT_NE(strict.error().message.find("1.txt:2:"), std::string::npos);
}

TEST(SyntheticShapes, SameSeedSameSampleAndBoxesInside) {
  const auto a = vision::make_shape_sample(5, {128, 2, 4});
  const auto b = vision::make_shape_sample(5, {128, 2, 4});
  EXPECT_EQ(cv::norm(a.image, b.image, cv::NORM_INF), 0.0);
  ASSERT_EQ(a.boxes.size(), b.boxes.size());
  EXPECT_GE(a.boxes.size(), 2U);
  EXPECT_LE(a.boxes.size(), 4U);
  for (const auto& box : a.boxes) {
    EXPECT_GE(box.cx - box.w / 2, -1e-6);
    EXPECT_LE(box.cx + box.w / 2, 1 + 1e-6);
    EXPECT_GT(box.w, 0);
    EXPECT_LT(box.class_id, 4);
  }
  EXPECT_GT(cv::norm(a.image, vision::make_shape_sample(6, {128, 2, 4}).image, cv::NORM_INF), 0.0);
}

TEST(SyntheticShapes, DatasetLoadsAsAYoloDataset) {
  TempDir dir;
  ASSERT_TRUE(vision::write_shape_dataset({dir / "shapes", 6, 3, 64, 1}));
  auto dataset = vision::load_yolo_dataset({dir / "shapes", vision::k_shape_class_names, vision::LabelStrictness::strict});
  ASSERT_TRUE(dataset) << dataset.error().message;
  EXPECT_EQ(dataset->train.size(), 6U);
  EXPECT_EQ(dataset->val.size(), 3U);
  for (const auto& item : dataset->train) EXPECT_FALSE(item.boxes.empty());
}

// dataset.yaml as Vision writes it reads back through the loader whatever the folder and the
// class names hold. The yaml is read from a copy elsewhere, so the test sees `path` itself
// (a misread path would fall back to the copy's folder, which holds no images).
TEST(DatasetYaml, RoundTripsThroughTheLoaderWithAwkwardPathsAndNames) {
  TempDir dir;
  const fs::path root = dir / "my data #1: final, 'v2'";
  image_at(root / "images/train/a b.jpg");
  image_at(root / "images/val/c.jpg");
  write_text(root / "labels/train/a b.txt", "1 0.5 0.5 0.2 0.2\n");
  write_text(root / "labels/val/c.txt", "0 0.5 0.5 0.2 0.2\n");
  const std::vector<std::string> names = {"a: b", "# not a comment", "quote\"d", "yes", "12", "ünïcode"};
  ASSERT_TRUE(vision::write_dataset_yaml(root, {.train = "images/train", .val = "images/val", .names = names,
                                                .comment = "Written by a test."}));
  const std::string text = vision::test::read_text(root / "dataset.yaml");
  EXPECT_TRUE(text.starts_with("# Written by a test.\n")) << text;
  // Written through a temporary and a rename: nothing but the yaml is left beside the folders.
  EXPECT_EQ(std::distance(fs::directory_iterator(root), fs::directory_iterator()), 3);

  fs::create_directories(dir / "elsewhere");
  fs::copy_file(root / "dataset.yaml", dir / "elsewhere/dataset.yaml");
  auto dataset = vision::load_yolo_dataset({dir / "elsewhere/dataset.yaml", {}, vision::LabelStrictness::strict});
  ASSERT_TRUE(dataset) << dataset.error().message << "\n" << text;
  EXPECT_EQ(dataset->root, fs::absolute(root).lexically_normal());
  EXPECT_EQ(dataset->names, names);
  ASSERT_EQ(dataset->train.size(), 1U);
  ASSERT_EQ(dataset->val.size(), 1U);
  EXPECT_EQ(dataset->train[0].boxes.at(0).class_id, 1);
}

TEST(DatasetYaml, AFolderThatIsNotThereIsAnIoErrorNamingTheFile) {
  TempDir dir;
  const auto written = vision::write_dataset_yaml(dir / "missing", {.train = "t", .val = "v", .names = {"a"}});
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, vision::ErrorCode::io);
  EXPECT_NE(written.error().message.find("dataset.yaml"), std::string::npos) << written.error().message;
}

TEST(SyntheticShapes, DatasetInAFolderWithSpacesHashAndColonLoads) {
  TempDir dir;
  const fs::path root = dir / "shapes #2: copy";
  ASSERT_TRUE(vision::write_shape_dataset({root, 2, 1, 64, 1}));
  fs::create_directories(dir / "elsewhere");
  fs::copy_file(root / "dataset.yaml", dir / "elsewhere/dataset.yaml");
  auto dataset = vision::load_yolo_dataset({dir / "elsewhere/dataset.yaml", {}, vision::LabelStrictness::strict});
  ASSERT_TRUE(dataset) << dataset.error().message;
  EXPECT_EQ(dataset->root, fs::absolute(root).lexically_normal());
  EXPECT_EQ(dataset->names, vision::k_shape_class_names);
  EXPECT_EQ(dataset->train.size(), 2U);
}

// Ultralytics' "No labels found": a split of images without one label file is an error naming
// the folder; some missing label files are backgrounds, counted for a warning.
TEST(YoloDataset, ASplitWithoutAnyLabelFileFailsAndSomeMissingAreCounted) {
  TempDir dir;
  for (const char* image : {"images/train/1.jpg", "images/train/2.jpg", "images/train/3.jpg", "images/val/4.jpg"}) {
    image_at(dir / image);
  }
  write_text(dir / "dataset.yaml", "train: images/train\nval: images/val\nnames: [a, b]\n");
  write_text(dir / "labels/val/4.txt", "0 0.5 0.5 0.2 0.2\n");
  auto none = vision::load_yolo_dataset(options_for(dir.path()));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, vision::ErrorCode::invalid_data);
  EXPECT_NE(none.error().message.find("no labels found for the train split"), std::string::npos) << none.error().message;
  EXPECT_NE(none.error().message.find((dir / "labels/train/1.txt").string()), std::string::npos) << none.error().message;

  write_text(dir / "labels/train/2.txt", "1 0.5 0.5 0.2 0.2\n");
  auto some = vision::load_yolo_dataset(options_for(dir.path()));
  ASSERT_TRUE(some) << some.error().message;
  EXPECT_EQ(some->train_unlabeled, 2U);
  EXPECT_EQ(some->val_unlabeled, 0U);
  const auto warnings = vision::unlabeled_warnings(*some);
  ASSERT_EQ(warnings.size(), 1U);
  EXPECT_NE(warnings[0].find("2 of 3 train images have no label file"), std::string::npos) << warnings[0];
  EXPECT_EQ(vision::summarize(*some)["train"]["unlabeled"], 2);
}

// names: {-1: star} once crashed `vision val`; a huge id asked for gigabytes; a gap would let a
// label's class id index past the names.
TEST(YoloDataset, ClassIdsInNamesAreCheckedAndNamed) {
  TempDir dir;
  image_at(dir / "images/train/1.jpg");
  image_at(dir / "images/val/2.jpg");
  write_text(dir / "labels/train/1.txt", "0 0.5 0.5 0.2 0.2\n");
  write_text(dir / "labels/val/2.txt", "0 0.5 0.5 0.2 0.2\n");
  vision::DatasetOptions options;
  options.dir = dir.path();
  for (const auto& [names, says] : {std::pair{"{-1: star}", "class id -1"}, std::pair{"{0: a, 4000000000: b}", "class id 4000000000"},
                                    std::pair{"{0: a, 2: c}", "class id 1 has no name"}, std::pair{"{0: a, x: b}", "names"},
                                    std::pair{"7", "must be a list"}}) {
    write_text(dir / "dataset.yaml", std::string("train: images/train\nval: images/val\nnames: ") + names + "\n");
    const auto dataset = vision::load_yolo_dataset(options);
    ASSERT_FALSE(dataset) << names;
    EXPECT_NE(dataset.error().message.find((dir / "dataset.yaml").string()), std::string::npos) << dataset.error().message;
    EXPECT_NE(dataset.error().message.find(says), std::string::npos) << dataset.error().message;
  }
  write_text(dir / "dataset.yaml", "train: images/train\nval: images/val\nnames: {1: b, 0: a}\n");
  const auto dataset = vision::load_yolo_dataset(options);
  ASSERT_TRUE(dataset) << dataset.error().message;
  EXPECT_EQ(dataset->names, (std::vector<std::string>{"a", "b"}));
}
