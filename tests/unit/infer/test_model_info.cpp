// Reading a model's description: class-name metadata in its forms and the recognised layouts.
#include <gtest/gtest.h>

#include "vision/infer/model_info.hpp"

using vision::ModelFormat;
using vision::TensorSpec;

using Names = std::vector<std::string>;

namespace {
std::vector<TensorSpec> k_images_fixed() { return {{"images", {1, 3, 640, 640}}}; }
}  // namespace

TEST(NamesMetadata, ParsesUltralyticsPythonDicts) {
  EXPECT_EQ(vision::parse_names_metadata("{0: 'circle', 1: 'square', 2: 'triangle', 3: 'star'}"),
            (Names{"circle", "square", "triangle", "star"}));
  EXPECT_EQ(vision::parse_names_metadata("{0: 'person', 1: \"traffic light\", 2: 'it\\'s'}"),
            (Names{"person", "traffic light", "it\\'s"}));
}

TEST(NamesMetadata, ParsesJsonAndFillsGaps) {
  EXPECT_EQ(vision::parse_names_metadata(R"({"0": "a", "2": "c"})"), (Names{"a", "class1", "c"}));
  EXPECT_EQ(vision::parse_names_metadata(R"(["x", "y"])"), (Names{"x", "y"}));
  EXPECT_EQ(vision::parse_names_metadata(""), Names{});
  EXPECT_EQ(vision::parse_names_metadata("nonsense"), Names{});
}

// A hostile or broken model names a class id that would index out of range or ask for gigabytes.
TEST(NamesMetadata, ClassIdsOutOfRangeAreErrors) {
  for (const std::string text : {"{-1: 'star'}", "{0: 'a', 99999999999: 'b'}", "{2000000000: 'x'}", R"({"-3": "a"})",
                                 R"({"10000": "a"})", R"({"0": 7})", R"([1, 2])"}) {
    const auto names = vision::parse_names_metadata(text);
    ASSERT_FALSE(names) << text;
    EXPECT_EQ(names.error().message.rfind("names", 0), 0U) << names.error().message;
  }
  EXPECT_TRUE(vision::parse_names_metadata("{9999: 'last'}"));
}

TEST(DescribeModel, BadMetadataNamesTheModel) {
  const std::vector<TensorSpec> outputs = {{"output0", {1, 8, 2100}}};
  for (const std::map<std::string, std::string>& metadata :
       {std::map<std::string, std::string>{{"names", "{-1: 'star'}"}}, {{"imgsz", "[99999999999999, 640]"}}, {{"imgsz", "[0, 0]"}}}) {
    const auto info = vision::describe_model({{"images", {1, 3, -1, -1}}}, outputs, metadata, "m.onnx");
    ASSERT_FALSE(info) << metadata.begin()->second;
    EXPECT_NE(info.error().message.find("m.onnx: metadata"), std::string::npos) << info.error().message;
  }
  const auto huge = vision::describe_model(k_images_fixed(), {{"output0", {1, 20004, 30000}}}, {}, "m.onnx");
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().message.find("more than 10000 classes"), std::string::npos) << huge.error().message;
  const auto bad_stride = vision::describe_model(k_images_fixed(), outputs, {{"stride", "99999999999"}}, "m.onnx");
  ASSERT_TRUE(bad_stride);
  EXPECT_EQ(bad_stride->stride, 32);
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
