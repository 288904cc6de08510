// The detector end to end on real ONNX Runtime sessions over small models built in the test.
#include <gtest/gtest.h>

#include "helpers/onnx_builder.hpp"
#include "helpers/test_support.hpp"
#include "vision/infer/detector.hpp"

using vision::Detector;
using vision::DetectorOptions;
using vision::test::ConstantYoloModel;
using vision::test::TempDir;

namespace {

// Two classes, three anchors, 64×64 input (see test_decode.cpp for the hand-decoded boxes):
// anchor 0: class 0, 0.9, box (22,35)-(42,45); anchor 1 overlaps it with 0.8 and is
// suppressed by NMS; anchor 2: class 1, 0.6, box (6,26)-(14,34).
ConstantYoloModel two_class_model() {
  ConstantYoloModel m;
  m.channels = 6;
  m.anchors = 3;
  m.output = {32, 33, 10, 40, 40, 30, 20, 20, 8, 10, 10, 8, 0.9F, 0.8F, 0.2F, 0.1F, 0.05F, 0.6F};
  m.metadata = {{"names", "{0: 'cat', 1: 'dog'}"}, {"stride", "32"}, {"task", "detect"}};
  return m;
}

std::unique_ptr<Detector> open(const std::filesystem::path& model, std::vector<std::string> classes = {}) {
  DetectorOptions options;
  options.model_path = model;
  options.threads = 1;
  options.class_names = std::move(classes);
  auto detector = Detector::open(options);
  EXPECT_TRUE(detector) << detector.error().message;
  return detector ? std::move(*detector) : nullptr;
}

void expect_box(const vision::Detection& d, std::array<float, 4> expected) {
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(d.bbox_xyxy[i], expected[i], 1e-3) << "coordinate " << i;
}

}  // namespace

TEST(Detector, DecodesAndMapsBoxesBackOnANonSquareImage) {
  TempDir dir;
  vision::test::write_constant_yolo_model(dir / "m.onnx", two_class_model());
  auto detector = open(dir / "m.onnx");
  ASSERT_TRUE(detector);
  EXPECT_EQ(detector->model().format, vision::ModelFormat::yolov8);
  EXPECT_EQ(detector->class_names(), (std::vector<std::string>{"cat", "dog"}));
  // 128×64: scale 0.5, 16 px of padding on top; x' = x / 0.5, y' = (y − 16) / 0.5.
  auto result = detector->detect(cv::Mat(64, 128, CV_8UC3, cv::Scalar::all(0)));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->width, 128);
  EXPECT_EQ(result->height, 64);
  ASSERT_EQ(result->detections.size(), 2U);
  EXPECT_EQ(result->detections[0].class_name, "cat");
  EXPECT_FLOAT_EQ(result->detections[0].score, 0.9F);
  expect_box(result->detections[0], {44, 38, 84, 58});
  EXPECT_EQ(result->detections[1].class_name, "dog");
  expect_box(result->detections[1], {12, 20, 28, 36});
  EXPECT_GT(result->latency_ms, 0.0);
}

TEST(Detector, TallImageIsPaddedOnTheSides) {
  TempDir dir;
  vision::test::write_constant_yolo_model(dir / "m.onnx", two_class_model());
  auto detector = open(dir / "m.onnx");
  ASSERT_TRUE(detector);
  // 32×128 (w×h): scale 0.5, 24 px of padding on the left.
  auto result = detector->detect(cv::Mat(128, 32, CV_8UC3, cv::Scalar::all(0)));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->detections.size(), 2U);
  // cat box (22,35)-(42,45) → ((22−24)/0.5, 70, (42−24)/0.5, 90) = (−4, 70, 36, 90), clipped
  // to the 32 px wide image.
  expect_box(result->detections[0], {0, 70, 32, 90});
}

TEST(Detector, ProjectClassesAreMatchedByNameAndUnknownOnesDropped) {
  TempDir dir;
  vision::test::write_constant_yolo_model(dir / "m.onnx", two_class_model());
  auto swapped = open(dir / "m.onnx", {"dog", "cat"});
  ASSERT_TRUE(swapped);
  auto result = swapped->detect(cv::Mat(64, 64, CV_8UC3, cv::Scalar::all(0)));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->detections.size(), 2U);
  EXPECT_EQ(result->detections[0].class_name, "cat");
  EXPECT_EQ(result->detections[0].class_id, 1);
  EXPECT_EQ(result->detections[1].class_id, 0);

  auto only_cats = open(dir / "m.onnx", {"cat"});
  ASSERT_TRUE(only_cats);
  result = only_cats->detect(cv::Mat(64, 64, CV_8UC3, cv::Scalar::all(0)));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->detections.size(), 1U);
  EXPECT_EQ(result->detections[0].class_name, "cat");
  EXPECT_EQ(only_cats->dropped_unknown_class(), 1);
}

TEST(Detector, ConfidenceThresholdFromOptions) {
  TempDir dir;
  vision::test::write_constant_yolo_model(dir / "m.onnx", two_class_model());
  DetectorOptions options;
  options.model_path = dir / "m.onnx";
  options.confidence = 0.7F;
  auto detector = Detector::open(options);
  ASSERT_TRUE(detector);
  auto result = (*detector)->detect(cv::Mat(64, 64, CV_8UC3, cv::Scalar::all(0)));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->detections.size(), 1U);
  EXPECT_EQ(result->detections[0].class_name, "cat");
}

TEST(Detector, BatchesKeepEachImageApart) {
  for (const bool dynamic_batch : {true, false}) {
    TempDir dir;
    ConstantYoloModel model = two_class_model();
    model.dynamic_batch = dynamic_batch;
    // A white image lowers both cat scores by 0.8, below the threshold.
    model.brightness_gain.assign(model.output.size(), 0.0F);
    model.brightness_gain[12] = -0.8F;  // anchor 0, class 0
    model.brightness_gain[13] = -0.8F;  // anchor 1, class 0
    vision::test::write_constant_yolo_model(dir / "m.onnx", model);
    auto detector = open(dir / "m.onnx");
    ASSERT_TRUE(detector);
    EXPECT_EQ(detector->model().dynamic_batch, dynamic_batch);
    const cv::Mat black(64, 64, CV_8UC3, cv::Scalar::all(0));
    const cv::Mat white(64, 64, CV_8UC3, cv::Scalar::all(255));
    auto results = detector->detect(std::vector<cv::Mat>{black, white, black, white, white});
    ASSERT_TRUE(results) << results.error().message;
    ASSERT_EQ(results->size(), 5U);
    const std::vector<size_t> expected = {2, 1, 2, 1, 1};
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ((*results)[i].detections.size(), expected[i]) << "image " << i << (dynamic_batch ? " dynamic" : " static");
    }
  }
}

TEST(Detector, AnchorsFirstAndYolov5Layouts) {
  TempDir dir;
  ConstantYoloModel transposed;
  transposed.channels = 6;
  transposed.anchors = 2;
  transposed.layout = vision::test::YoloLayout::anchors_first;
  transposed.output = {32, 40, 20, 10, 0.9F, 0.1F, 10, 30, 8, 8, 0.2F, 0.6F};
  transposed.metadata = {{"names", "{0: 'cat', 1: 'dog'}"}};
  vision::test::write_constant_yolo_model(dir / "t.onnx", transposed);
  auto t = open(dir / "t.onnx");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->model().format, vision::ModelFormat::yolov8_transposed);
  auto result = t->detect(cv::Mat(64, 64, CV_8UC3, cv::Scalar::all(0)));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->detections.size(), 2U);
  expect_box(result->detections[0], {22, 35, 42, 45});

  ConstantYoloModel v5;
  v5.channels = 7;
  v5.anchors = 2;
  v5.layout = vision::test::YoloLayout::anchors_first;
  v5.output = {32, 40, 20, 10, 0.9F, 1.0F, 0.0F, 10, 30, 8, 8, 0.5F, 0.2F, 0.8F};
  v5.metadata = {{"names", "{0: 'cat', 1: 'dog'}"}};
  vision::test::write_constant_yolo_model(dir / "v5.onnx", v5);
  auto five = open(dir / "v5.onnx");
  ASSERT_TRUE(five);
  EXPECT_EQ(five->model().format, vision::ModelFormat::yolov5);
  result = five->detect(cv::Mat(64, 64, CV_8UC3, cv::Scalar::all(0)));
  ASSERT_TRUE(result);
  ASSERT_EQ(result->detections.size(), 2U);
  EXPECT_EQ(result->detections[1].class_name, "dog");
  EXPECT_FLOAT_EQ(result->detections[1].score, 0.4F);
}

TEST(Detector, FasterRcnnStyleModelsKeepOriginalPixels) {
  TempDir dir;
  vision::test::write_constant_rcnn_model(dir / "r.onnx", {10, 10, 50, 50, 0, 0, 5, 5, 60, 5, 90, 30},
                                          {2, 0, 1}, {0.8F, 0.9F, 0.7F});
  auto detector = open(dir / "r.onnx", {"a", "b"});
  ASSERT_TRUE(detector);
  EXPECT_EQ(detector->model().format, vision::ModelFormat::boxes_labels_scores);
  auto results = detector->detect(std::vector<cv::Mat>{cv::Mat(80, 100, CV_8UC3, cv::Scalar::all(9)),
                                                       cv::Mat(40, 120, CV_8UC3, cv::Scalar::all(9))});
  ASSERT_TRUE(results) << results.error().message;
  ASSERT_EQ(results->size(), 2U);
  const auto& first = (*results)[0].detections;
  ASSERT_EQ(first.size(), 2U);  // label 0 is background
  EXPECT_EQ(first[0].class_name, "b");
  expect_box(first[0], {10, 10, 50, 50});
  EXPECT_EQ(first[1].class_name, "a");
  expect_box(first[1], {60, 5, 90, 30});
  // Boxes are clipped to each image: the second image is 40 px tall.
  expect_box((*results)[1].detections[0], {10, 10, 50, 40});
}

TEST(Detector, BadModelsAreClearErrors) {
  TempDir dir;
  auto missing = Detector::open({.model_path = dir / "none.onnx"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, vision::ErrorCode::not_found);
  vision::test::write_text(dir / "junk.onnx", "this is not a protobuf");
  auto junk = Detector::open({.model_path = dir / "junk.onnx"});
  ASSERT_FALSE(junk);
  EXPECT_NE(junk.error().message.find("junk.onnx"), std::string::npos);
  auto wrong_device = Detector::open({.model_path = dir / "junk.onnx", .device = "cuda:0"});
  ASSERT_FALSE(wrong_device);
}

TEST(Detector, EmptyImageIsAnError) {
  TempDir dir;
  vision::test::write_constant_yolo_model(dir / "m.onnx", two_class_model());
  auto detector = open(dir / "m.onnx");
  ASSERT_TRUE(detector);
  EXPECT_FALSE(detector->detect(cv::Mat()));
}
