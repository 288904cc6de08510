#include <gtest/gtest.h>

#include "vision/infer/model_info.hpp"

using vision::ModelFormat;
using vision::TensorSpec;

TEST(NamesMetadata, ParsesUltralyticsPythonDicts) {
  EXPECT_EQ(vision::parse_names_metadata("{0: 'circle', 1: 'square', 2: 'triangle', 3: 'star'}"),
            (std::vector<std::string>{"circle", "square", "triangle", "star"}));
  EXPECT_EQ(vision::parse_names_metadata("{0: 'person', 1: \"traffic light\", 2: 'it\\'s'}"),
            (std::vector<std::string>{"person", "traffic light", "it\\'s"}));
}

TEST(NamesMetadata, ParsesJsonAndFillsGaps) {
  EXPECT_EQ(vision::parse_names_metadata(R"({"0": "a", "2": "c"})"), (std::vector<std::string>{"a", "class1", "c"}));
  EXPECT_EQ(vision::parse_names_metadata(R"(["x", "y"])"), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(vision::parse_names_metadata("").empty());
  EXPECT_TRUE(vision::parse_names_metadata("nonsense").empty());
}

namespace {
const std::vector<TensorSpec> k_images = {{"images", {1, 3, 640, 640}}};
}

TEST(DescribeModel, RecognisesEachLayout) {
  struct Case {
    std::vector<TensorSpec> outputs;
    std::map<std::string, std::string> metadata;
    ModelFormat format;
    int classes;
  };
  const std::vector<Case> cases = {
      {{{"output0", {1, 84, 8400}}}, {}, ModelFormat::yolov8, 80},
      {{{"output0", {1, 25200, 85}}}, {}, ModelFormat::yolov5, 80},
      {{{"output0", {1, 8, 2100}}}, {{"names", "{0: 'a', 1: 'b', 2: 'c', 3: 'd'}"}}, ModelFormat::yolov8, 4},
      {{{"output0", {1, 2100, 8}}}, {{"names", "{0: 'a', 1: 'b', 2: 'c', 3: 'd'}"}}, ModelFormat::yolov8_transposed, 4},
      {{{"output0", {1, 2100, 9}}}, {{"names", "{0: 'a', 1: 'b', 2: 'c', 3: 'd'}"}}, ModelFormat::yolov5, 4},
      {{{"boxes", {-1, 4}}, {"labels", {-1}}, {"scores", {-1}}}, {}, ModelFormat::boxes_labels_scores, 0},
  };
  for (const auto& c : cases) {
    auto info = vision::describe_model(k_images, c.outputs, c.metadata, "m.onnx");
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->format, c.format) << c.outputs[0].shape[1];
    EXPECT_EQ(info->num_classes, c.classes);
    EXPECT_EQ(info->input_width, 640);
    EXPECT_EQ(info->input_name, "images");
  }
}

TEST(DescribeModel, DynamicSizeTakesImgszFromMetadata) {
  auto info = vision::describe_model({{"images", {-1, 3, -1, -1}}}, {{"output0", {-1, 84, 6300}}},
                                     {{"imgsz", "[480, 640]"}, {"stride", "32"}}, "m.onnx");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(info->dynamic_batch);
  EXPECT_EQ(info->input_height, 480);
  EXPECT_EQ(info->input_width, 640);
  EXPECT_EQ(info->stride, 32);
}

TEST(DescribeModel, ErrorsNameTheModelAndTheProblem) {
  struct Case {
    std::vector<TensorSpec> inputs;
    std::vector<TensorSpec> outputs;
    std::map<std::string, std::string> metadata;
    std::string words;
  };
  const std::vector<Case> cases = {
      {k_images, {{"output0", {1, 84, 8400}}}, {{"task", "segment"}}, "only detection models"},
      {{{"images", {1, 1, 64, 64}}}, {{"output0", {1, 84, 8400}}}, {}, "1 channels; expected 3"},
      {{{"a", {1, 3, 64, 64}}, {"b", {1, 3, 64, 64}}}, {{"output0", {1, 84, 8400}}}, {}, "one image input"},
      {{{"images", {3, 64}}}, {{"output0", {1, 84, 8400}}}, {}, "expected [N, 3, H, W]"},
      {k_images, {{"output0", {1, 84}}}, {}, "expected [N, 4+nc, A]"},
      {k_images, {{"output0", {1, 10, 2100}}}, {{"names", "{0: 'a', 1: 'b', 2: 'c', 3: 'd'}"}}, "does not fit the 4 class names"},
      {k_images, {{"output0", {1, 4, 2100}}}, {}, "leaves no class scores"},
  };
  for (const auto& c : cases) {
    auto info = vision::describe_model(c.inputs, c.outputs, c.metadata, "dir/m.onnx");
    ASSERT_FALSE(info) << c.words;
    EXPECT_EQ(info.error().code, vision::ErrorCode::invalid_data);
    EXPECT_NE(info.error().message.find("dir/m.onnx"), std::string::npos);
    EXPECT_NE(info.error().message.find(c.words), std::string::npos) << info.error().message;
  }
}
