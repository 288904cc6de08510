// Vision reads a real Ultralytics export: ../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx
// (YOLOv8n trained on the reference shapes set, 4 classes). The synthetic shapes that Vision
// generates follow the same recipe, so the model must find most of their boxes.
#include <gtest/gtest.h>

#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/image/nms.hpp"
#include "vision/infer/detector.hpp"

namespace fs = std::filesystem;

namespace {

fs::path fixture_model() {
  return fs::path(VISION_SOURCE_DIR).parent_path() / "shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";
}

}  // namespace

TEST(UltralyticsModel, MetadataAndLayoutAreRead) {
  ASSERT_TRUE(fs::exists(fixture_model())) << fixture_model();
  auto detector = vision::Detector::open({.model_path = fixture_model(), .threads = 2});
  ASSERT_TRUE(detector) << detector.error().message;
  const auto& model = (*detector)->model();
  EXPECT_EQ(model.format, vision::ModelFormat::yolov8);
  EXPECT_EQ(model.input_name, "images");
  EXPECT_EQ(model.input_width, 320);
  EXPECT_EQ(model.input_height, 320);
  EXPECT_EQ(model.num_classes, 4);
  EXPECT_EQ(model.stride, 32);
  EXPECT_EQ(model.names, vision::k_shape_class_names);
  EXPECT_EQ(model.metadata.at("task"), "detect");
}

TEST(UltralyticsModel, FindsTheShapesOfGeneratedImages) {
  auto detector = vision::Detector::open({.model_path = fixture_model(), .confidence = 0.25F, .threads = 2,
                                          .class_names = vision::k_shape_class_names});
  ASSERT_TRUE(detector) << detector.error().message;
  int truths = 0;
  int found = 0;
  int predictions = 0;
  int correct = 0;
  for (std::uint64_t seed = 100; seed < 120; ++seed) {
    const auto sample = vision::make_shape_sample(seed, {320, 1, 6});
    // A 4:3 crop exercises the letterbox on a non-square image.
    const cv::Mat image = sample.image(cv::Rect(0, 0, 320, 240)).clone();
    auto result = (*detector)->detect(image);
    ASSERT_TRUE(result) << result.error().message;
    predictions += static_cast<int>(result->detections.size());
    std::vector<bool> matched(result->detections.size(), false);
    for (const auto& box : sample.boxes) {
      const auto truth = vision::yolo_box_to_xyxy(box, 320, 320);
      if (truth[3] > 240) continue;  // cut by the crop
      ++truths;
      for (size_t i = 0; i < result->detections.size(); ++i) {
        const auto& d = result->detections[i];
        if (!matched[i] && d.class_id == box.class_id && vision::box_iou(d.bbox_xyxy, truth) > 0.5F) {
          matched[i] = true;
          ++found;
          break;
        }
      }
    }
    correct += static_cast<int>(std::ranges::count(matched, true));
  }
  ASSERT_GT(truths, 20);
  // The model reaches P 0.57 / R 0.60 on its own val set (benchmarks.md).
  EXPECT_GE(static_cast<double>(found) / truths, 0.5) << found << " of " << truths;
  EXPECT_GE(static_cast<double>(correct) / predictions, 0.4) << correct << " of " << predictions;
}

TEST(UltralyticsModel, ValReportsMapOnASyntheticValSplit) {
  vision::test::TempDir dir;
  ASSERT_TRUE(vision::write_shape_dataset({dir / "shapes", 2, 40, 320, 11}));
  const auto result = vision::test::run_vision({"val", "--workdir", (dir / "wd").string(), "--model", fixture_model().string(),
                                                "--data", (dir / "shapes").string(), "--set",
                                                "class_map.names=[circle,square,triangle,star]"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("mAP50-95"), std::string::npos);
  const auto artifacts = vision::test::read_json(vision::test::only_run_dir(dir / "wd") / "artifacts.json")["artifacts"];
  const auto& metrics = artifacts["metrics"];
  EXPECT_EQ(metrics["images"], 40);
  EXPECT_EQ(metrics["per_class"].size(), 4U);
  // The model scores mAP50 0.61 / mAP50-95 0.48 on the reference val set of gen_shapes.py.
  EXPECT_GT(artifacts["map50"].get<double>(), 0.4);
  EXPECT_GT(artifacts["map50_95"].get<double>(), 0.3);
  EXPECT_LT(artifacts["map50_95"].get<double>(), artifacts["map50"].get<double>());
}
