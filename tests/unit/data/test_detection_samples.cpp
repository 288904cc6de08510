// Detection samples for the Faster R-CNN backend: both sources (a flat LabelRecord folder, a YOLO
// data set and Vision's labeled layout), pixel boxes and class ids, every skip rule counted by
// its reason, the flat folder's split and max_samples.
#include <gtest/gtest.h>

#include <format>
#include <functional>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/core/contracts.hpp"
#include "vision/data/dataset_split.hpp"
#include "vision/data/detection_samples.hpp"
#include "vision/data/yolo_dataset.hpp"

namespace fs = std::filesystem;
using vision::Detection;
using vision::test::TempDir;
using vision::test::write_text;

namespace {

const std::vector<std::string> k_names = {"cat", "dog"};
const Detection k_dog{1, "dog", 0.9F, {10, 20, 50, 60}};

void write_image(const fs::path& file) {
  fs::create_directories(file.parent_path());
  cv::imwrite(file.string(), cv::Mat(100, 200, CV_8UC3, cv::Scalar(40, 80, 120)));  // 200 wide, 100 high
}

void write_record(const fs::path& dir, const std::string& stem, const std::string& image_path,
                  const std::vector<Detection>& detections) {
  write_text(dir / (stem + ".json"), vision::to_json(vision::LabelRecord{image_path, "model:/old.onnx", detections}).dump());
}

// A record <stem>.json beside its image <stem>.png, named relative to the record's folder.
void write_labeled(const fs::path& dir, const std::string& stem, const std::vector<Detection>& detections) {
  write_image(dir / (stem + ".png"));
  write_record(dir, stem, stem + ".png", detections);
}

// The first stem "<prefix><i>" whose image lands on the wanted side of the 0.2 split.
std::string stem_on_side(const std::string& prefix, bool val) {
  for (int i = 0;; ++i) {
    const std::string stem = prefix + std::to_string(i);
    if (vision::in_val_split(stem + ".png", 0.2) == val) return stem;
  }
}

vision::DetectionSamplesOptions flat_options(const fs::path& dir) {
  return {.dir = dir, .class_names = k_names};
}

std::size_t total(const vision::DetectionSamples& samples) { return samples.train.size() + samples.val.size(); }

}  // namespace

TEST(DetectionSamples, FlatFolderGivesPixelBoxesAndClassIds) {
  TempDir dir;
  for (int i = 0; i < 10; ++i) write_labeled(dir / "flat", "img" + std::to_string(i), {k_dog});
  write_labeled(dir / "flat", "edge", {{0, "cat", 0.8F, {190, 0, 202, 40}}});  // 1 % over the side: clipped
  const auto samples = vision::load_detection_samples(flat_options(dir / "flat"));
  ASSERT_TRUE(samples) << samples.error().message;
  EXPECT_EQ(samples->source, vision::DetectionSource::flat_records);
  EXPECT_EQ(vision::to_json(*samples)["source"], "flat_records");
  EXPECT_EQ(samples->names, k_names);
  EXPECT_EQ(total(*samples), 11U);
  EXPECT_TRUE(samples->skipped_by_reason.empty());
  for (const auto* split : {&samples->train, &samples->val}) {
    for (const auto& sample : *split) {
      EXPECT_EQ(sample.width, 200);
      EXPECT_EQ(sample.height, 100);
      ASSERT_EQ(sample.boxes.size(), 1U);
      const bool val = split == &samples->val;
      EXPECT_EQ(val, vision::in_val_split(sample.image.filename().string(), 0.2)) << sample.image;
      if (sample.image.stem() == "edge") {
        EXPECT_FLOAT_EQ(sample.boxes[0][2], 200.0F);
        EXPECT_EQ(sample.class_ids[0], 0);
      } else {
        EXPECT_NEAR(sample.boxes[0][0], 10.0F, 1e-3);
        EXPECT_NEAR(sample.boxes[0][3], 60.0F, 1e-3);
        EXPECT_EQ(sample.class_ids[0], 1);
      }
    }
  }
}

TEST(DetectionSamples, AnAbsoluteImagePathIsFollowed) {
  TempDir dir;
  write_image(dir / "pictures/a.png");
  write_image(dir / "pictures/b.png");
  write_record(dir / "flat", "a", (dir / "pictures/a.png").string(), {k_dog});
  write_record(dir / "flat", "b", (dir / "pictures/b.png").string(), {k_dog});
  const auto samples = vision::load_detection_samples(flat_options(dir / "flat"));
  ASSERT_TRUE(samples) << samples.error().message;
  ASSERT_EQ(samples->train.size(), 1U);
  ASSERT_EQ(samples->val.size(), 1U);
  EXPECT_EQ(samples->train[0].image.parent_path(), dir / "pictures");
}

struct SkipCase {
  std::string reason;
  std::string message;                             // a part of the skip message
  std::function<void(const fs::path& dir)> make;  // writes dir/bad.json (and its image)
};

TEST(DetectionSamples, EachSkipRuleIsCountedByItsReason) {
  const std::vector<SkipCase> cases = {
      {"unreadable_json", "not valid JSON", [](const fs::path& d) { write_text(d / "bad.json", "{"); }},
      {"invalid_record", "bad.json", [](const fs::path& d) { write_text(d / "bad.json", R"({"image_path": 3})"); }},
      {"image_missing", "names no file", [](const fs::path& d) { write_record(d, "bad", "nowhere.png", {k_dog}); }},
      {"image_unreadable", "bad.png",
       [](const fs::path& d) {
         write_text(d / "bad.png", "not an image");
         write_record(d, "bad", "bad.png", {k_dog});
       }},
      {"box_outside_image", "reaches outside the 200x100 image",
       [](const fs::path& d) { write_labeled(d, "bad", {{1, "dog", 0.9F, {0, 0, 300, 50}}}); }},
      {"degenerate_box", "has no area", [](const fs::path& d) { write_labeled(d, "bad", {{1, "dog", 0.9F, {10, 10, 10, 50}}}); }},
      {"unknown_class", "\"bird\" is not in class_map.names",
       [](const fs::path& d) { write_labeled(d, "bad", {{0, "bird", 0.9F, {10, 10, 50, 50}}}); }},
      {"class_id_mismatch", "has class_id 0, class_map.names has it at 1",
       [](const fs::path& d) { write_labeled(d, "bad", {{0, "dog", 0.9F, {10, 10, 50, 50}}}); }},
      {"duplicate_image", "is the image of an earlier record",
       [](const fs::path& d) { write_record(d, "bad", "good0.png", {k_dog}); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.reason);
    TempDir dir;
    write_labeled(dir / "flat", "good0", {k_dog});
    write_labeled(dir / "flat", "good1", {k_dog});
    c.make(dir / "flat");
    const auto samples = vision::load_detection_samples(flat_options(dir / "flat"));
    ASSERT_TRUE(samples) << samples.error().message;
    EXPECT_EQ(total(*samples), 2U);
    EXPECT_EQ(samples->skipped_by_reason, (std::map<std::string, std::int64_t>{{c.reason, 1}}));
    ASSERT_EQ(samples->skipped_records.size(), 1U);
    EXPECT_NE(samples->skipped_records[0].find(c.message), std::string::npos) << samples->skipped_records[0];
    EXPECT_EQ(vision::to_json(*samples)["skipped"], 1);
  }
}

TEST(DetectionSamples, TrainImagesWithoutBoxesAreLeftOutAndValKeepsThem) {
  TempDir dir;
  const std::string empty_train = stem_on_side("empty_train", false);
  const std::string empty_val = stem_on_side("empty_val", true);
  write_labeled(dir / "flat", empty_train, {});
  write_labeled(dir / "flat", empty_val, {});
  write_labeled(dir / "flat", stem_on_side("dog", false), {k_dog});
  const auto samples = vision::load_detection_samples(flat_options(dir / "flat"));
  ASSERT_TRUE(samples) << samples.error().message;
  EXPECT_EQ(samples->skipped_by_reason, (std::map<std::string, std::int64_t>{{"no_detections", 1}}));
  ASSERT_EQ(samples->train.size(), 1U);
  EXPECT_EQ(samples->train[0].boxes.size(), 1U);
  ASSERT_EQ(samples->val.size(), 1U);
  EXPECT_EQ(samples->val[0].image.stem(), empty_val);
  EXPECT_TRUE(samples->val[0].boxes.empty());
}

TEST(DetectionSamples, MaxSamplesKeepsASeededChoiceInOrder) {
  TempDir dir;
  for (int i = 0; i < 30; ++i) write_labeled(dir / "flat", std::format("img{:02}", i), {k_dog});
  auto options = flat_options(dir / "flat");
  const auto all = vision::load_detection_samples(options);
  ASSERT_TRUE(all) << all.error().message;
  options.max_samples = 5;
  const auto first = vision::load_detection_samples(options);
  const auto again = vision::load_detection_samples(options);
  options.seed = 7;
  const auto other = vision::load_detection_samples(options);
  ASSERT_TRUE(first && again && other);
  const auto images = [](const std::vector<vision::DetectionSample>& split) {
    std::vector<fs::path> paths;
    for (const auto& s : split) paths.push_back(s.image);
    return paths;
  };
  ASSERT_EQ(first->train.size(), 5U);
  EXPECT_EQ(first->train_usable, static_cast<std::int64_t>(all->train.size()));
  EXPECT_EQ(images(first->train), images(again->train));
  EXPECT_NE(images(first->train), images(other->train));
  EXPECT_TRUE(std::ranges::is_sorted(images(first->train)));
  const auto all_train = images(all->train);
  EXPECT_NE(images(first->train), std::vector<fs::path>(all_train.begin(), all_train.begin() + 5));  // not the first 5
  EXPECT_EQ(images(first->val), images(all->val));  // val is never cut
  options.max_samples = 1000;
  const auto more = vision::load_detection_samples(options);
  ASSERT_TRUE(more);
  EXPECT_EQ(more->train.size(), all->train.size());
}

TEST(DetectionSamples, FlatFolderErrors) {
  TempDir dir;
  fs::create_directories(dir / "empty");
  auto none = vision::load_detection_samples(flat_options(dir / "empty"));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, vision::ErrorCode::not_found);

  write_labeled(dir / "flat", "a", {k_dog});
  auto no_names = vision::load_detection_samples({.dir = dir / "flat"});
  ASSERT_FALSE(no_names);
  EXPECT_EQ(no_names.error().code, vision::ErrorCode::config);

  write_text(dir / "flat/b.json", "{");
  auto one = vision::load_detection_samples(flat_options(dir / "flat"));
  ASSERT_FALSE(one);  // one usable record cannot fill both splits
  EXPECT_EQ(one.error().code, vision::ErrorCode::invalid_data);
  EXPECT_NE(one.error().message.find("unreadable_json 1"), std::string::npos) << one.error().message;
}

TEST(DetectionSamples, YoloDatasetGivesPixelBoxesAndCountsItsSkips) {
  TempDir dir;
  for (const char* name : {"images/train/a.png", "images/train/empty.png", "images/val/v.png", "images/val/bg.png"}) {
    write_image(dir / name);
  }
  write_text(dir / "images/train/broken.png", "not an image");
  write_text(dir / "labels/train/a.txt", "1 0.5 0.5 0.5 0.5\n7 0.5 0.5 0.1 0.1\n");  // class 7: a bad line
  write_text(dir / "labels/train/empty.txt", "");
  write_text(dir / "labels/train/broken.txt", "0 0.5 0.5 0.1 0.1\n");
  write_text(dir / "labels/val/v.txt", "0 0.25 0.5 0.1 0.2\n");
  write_text(dir / "labels/val/bg.txt", "");
  const auto samples = vision::load_detection_samples({.dir = dir.path(), .class_names = k_names});
  ASSERT_TRUE(samples) << samples.error().message;
  EXPECT_EQ(samples->source, vision::DetectionSource::yolo_dataset);
  EXPECT_EQ(samples->skipped_by_reason, (std::map<std::string, std::int64_t>{
                                            {"image_unreadable", 1}, {"label_line_invalid", 1}, {"no_detections", 1}}));
  EXPECT_EQ(vision::to_json(*samples)["skipped"], 2);  // images; the bad line only lost a box
  ASSERT_EQ(samples->train.size(), 1U);
  const auto& a = samples->train[0];
  ASSERT_EQ(a.boxes.size(), 1U);
  EXPECT_EQ(a.class_ids[0], 1);
  EXPECT_NEAR(a.boxes[0][0], 50.0F, 1e-3);
  EXPECT_NEAR(a.boxes[0][1], 25.0F, 1e-3);
  EXPECT_NEAR(a.boxes[0][2], 150.0F, 1e-3);
  EXPECT_NEAR(a.boxes[0][3], 75.0F, 1e-3);
  ASSERT_EQ(samples->val.size(), 2U);  // the background stays
}

TEST(DetectionSamples, VisionsLabeledLayoutIsReadAsItsDataset) {
  TempDir dir;
  const fs::path labeled = dir / "labeled";
  for (const char* stem : {"a", "b"}) {
    write_image(labeled / "images" / (std::string(stem) + ".png"));
    write_text(labeled / "labels" / (std::string(stem) + ".txt"), "0 0.5 0.5 0.2 0.2\n");
    write_record(labeled / "records", stem, std::string("images/") + stem + ".png", {k_dog});
  }
  write_text(labeled / "train.txt", "./images/a.png\n");
  write_text(labeled / "val.txt", "./images/b.png\n");
  ASSERT_TRUE(vision::write_dataset_yaml(labeled, {.train = "train.txt", .val = "val.txt", .names = k_names}));
  const auto samples = vision::load_detection_samples({.dir = labeled, .class_names = k_names});
  ASSERT_TRUE(samples) << samples.error().message;
  EXPECT_EQ(samples->source, vision::DetectionSource::yolo_dataset);
  ASSERT_EQ(samples->train.size(), 1U);
  ASSERT_EQ(samples->val.size(), 1U);
  EXPECT_EQ(samples->train[0].class_ids, std::vector<int>{0});  // from labels/, not the record
}
