// YOLO label files (parsing, problems named by file and line, writing) and the one conversion
// between YOLO boxes and pixel corners.
#include <gtest/gtest.h>

#include "helpers/test_support.hpp"
#include "vision/data/yolo_labels.hpp"

using vision::LabelStrictness;
using vision::test::TempDir;

TEST(YoloLabels, ParsesValidLinesAndSkipsBlankOnes) {
  auto labels = vision::parse_yolo_labels("0 0.5 0.5 0.2 0.3\n\n  \n3 0.1 0.9 0.05 0.1\r\n",
                                          "a.txt", 4, LabelStrictness::strict);
  ASSERT_TRUE(labels) << labels.error().message;
  ASSERT_EQ(labels->boxes.size(), 2U);
  EXPECT_EQ(labels->boxes[1].class_id, 3);
  EXPECT_FLOAT_EQ(labels->boxes[1].cy, 0.9F);
  EXPECT_TRUE(labels->problems.empty());
}

TEST(YoloLabels, BadLinesAreReportedWithFileAndLine) {
  struct Case {
    std::string line;
    std::string problem;
  };
  const std::vector<Case> cases = {
      {"x 0.5 0.5 0.1 0.1", "is not a number"},
      {"1.5 0.5 0.5 0.1 0.1", "must be an integer"},
      {"-1 0.5 0.5 0.1 0.1", "must be an integer >= 0"},
      {"4 0.5 0.5 0.1 0.1", "not in class_map (4 classes)"},
      {"0 0.5 0.5 0.1", "expected 5 values"},
      {"0 0.5 0.5 0.1 0.1 0.2", "segment labels"},
      {"0 0.5 0.5 0 0.1", "width and height must be > 0"},
      {"0 1.5 0.5 0.1 0.1", "normalised"},
      {"0 nan 0.5 0.1 0.1", "finite"},
  };
  for (const auto& c : cases) {
    const std::string text = "0 0.5 0.5 0.1 0.1\n" + c.line + "\n";
    auto strict = vision::parse_yolo_labels(text, "labels/img.txt", 4, LabelStrictness::strict);
    ASSERT_FALSE(strict) << c.line;
    EXPECT_EQ(strict.error().code, vision::ErrorCode::invalid_data);
    EXPECT_NE(strict.error().message.find("labels/img.txt:2: "), std::string::npos) << strict.error().message;
    EXPECT_NE(strict.error().message.find(c.problem), std::string::npos) << strict.error().message;

    auto lenient = vision::parse_yolo_labels(text, "labels/img.txt", 4, LabelStrictness::lenient);
    ASSERT_TRUE(lenient) << c.line;
    EXPECT_EQ(lenient->boxes.size(), 1U) << c.line;
    ASSERT_EQ(lenient->problems.size(), 1U) << c.line;
    EXPECT_NE(lenient->problems[0].find("labels/img.txt:2: "), std::string::npos);
  }
}

TEST(YoloLabels, SlightlyOutsideTheImageIsTolerated) {
  auto labels = vision::parse_yolo_labels("0 1.0005 0.5 0.1 0.1\n", "a.txt", 1, LabelStrictness::strict);
  ASSERT_TRUE(labels) << labels.error().message;
}

TEST(YoloLabels, WriteThenReadRoundTrips) {
  TempDir dir;
  const std::vector<vision::YoloBox> boxes = {{1, 0.25F, 0.5F, 0.125F, 0.75F}, {0, 0.1F, 0.2F, 0.3F, 0.4F}};
  const auto file = dir / "labels/train/sub/img.txt";
  ASSERT_TRUE(vision::write_yolo_labels(file, boxes));
  EXPECT_EQ(vision::test::read_text(file), "1 0.250000 0.500000 0.125000 0.750000\n"
                                           "0 0.100000 0.200000 0.300000 0.400000\n");
  auto back = vision::read_yolo_labels(file, 2, LabelStrictness::strict);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->boxes.size(), 2U);
  EXPECT_FLOAT_EQ(back->boxes[0].h, 0.75F);
}

TEST(YoloLabels, NoBoxesWritesAnEmptyFileAndMissingFileMeansNoBoxes) {
  TempDir dir;
  ASSERT_TRUE(vision::write_yolo_labels(dir / "empty.txt", {}));
  EXPECT_TRUE(std::filesystem::exists(dir / "empty.txt"));
  EXPECT_EQ(std::filesystem::file_size(dir / "empty.txt"), 0U);
  auto missing = vision::read_yolo_labels(dir / "missing.txt", 2, LabelStrictness::strict);
  ASSERT_TRUE(missing);
  EXPECT_TRUE(missing->boxes.empty());
}

TEST(YoloBoxConversion, PixelCornersAndBackAgree) {
  // A 40 × 40 box at (20, 10) in a 200 × 100 image: cx = 40/200, cy = 30/100, w = 40/200, h = 40/100.
  const auto box = vision::yolo_box_from_xyxy(3, {20, 10, 60, 50}, 200, 100);
  ASSERT_TRUE(box);
  EXPECT_EQ(box->class_id, 3);
  EXPECT_FLOAT_EQ(box->cx, 0.2F);
  EXPECT_FLOAT_EQ(box->cy, 0.3F);
  EXPECT_FLOAT_EQ(box->w, 0.2F);
  EXPECT_FLOAT_EQ(box->h, 0.4F);
  const auto back = vision::yolo_box_to_xyxy(*box, 200, 100);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(back[i], (std::array<float, 4>{20, 10, 60, 50})[i], 1e-4F) << i;
  // Width = height = 1: normalised corners, as the autolabel merge compares them.
  const auto unit = vision::yolo_box_to_xyxy(*box, 1, 1);
  EXPECT_FLOAT_EQ(unit[0], 0.1F);
  EXPECT_FLOAT_EQ(unit[3], 0.5F);
}

TEST(YoloBoxConversion, CornersAreClippedToTheImageAndEmptyBoxesDropped) {
  const auto clipped = vision::yolo_box_from_xyxy(0, {-20, -10, 100, 50}, 200, 100);
  ASSERT_TRUE(clipped);
  EXPECT_FLOAT_EQ(clipped->cx, 0.25F);  // x 0..100
  EXPECT_FLOAT_EQ(clipped->w, 0.5F);
  EXPECT_FLOAT_EQ(clipped->cy, 0.25F);  // y 0..50
  EXPECT_FLOAT_EQ(clipped->h, 0.5F);
  EXPECT_FALSE(vision::yolo_box_from_xyxy(0, {250, 10, 300, 50}, 200, 100));  // wholly outside
  EXPECT_FALSE(vision::yolo_box_from_xyxy(0, {10, 10, 10, 50}, 200, 100));    // no width
  EXPECT_FALSE(vision::yolo_box_from_xyxy(0, {10, 50, 60, 50.0005F}, 200, 100));
  // The way out does not clip: a label reaching past the border stays as it is.
  const auto past = vision::yolo_box_to_xyxy({1, 0.95F, 0.5F, 0.2F, 0.2F}, 100, 100);
  EXPECT_NEAR(past[2], 105.0F, 1e-4F);
}
