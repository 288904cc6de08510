// The YOLOv8 modules: parameter counts per scale, the output layout per stride, the DFL decode.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "vision/train/yolo_layers.hpp"

using vision::YoloModelOptions;

TEST(YoloModel, ParameterCountsMatchUltralytics) {
  // Ultralytics' model.info() for yolov8{n,s,m}.yaml with 80 classes, and the shapes model
  // (yolov8n, 4 classes) of ../shared/benchmarks.md.
  struct Case {
    char scale;
    int classes;
    std::int64_t parameters;
  };
  for (const Case& c : {Case{'n', 80, 3157200}, Case{'s', 80, 11166560}, Case{'m', 80, 25902640}, Case{'n', 4, 3011628}}) {
    auto count = vision::yolo_parameter_count({c.classes, c.scale, 16});
    ASSERT_TRUE(count) << count.error().message;
    EXPECT_EQ(*count, c.parameters) << "scale " << c.scale << ", " << c.classes << " classes";
  }
  EXPECT_FALSE(vision::yolo_parameter_count({80, 'x', 16}));
}

TEST(YoloModel, ForwardGivesThreeStridesAndTheUltralyticsOutputLayout) {
  torch::manual_seed(0);
  vision::train::YoloDetector model(YoloModelOptions{4, 'n', 16});
  model->eval();
  torch::NoGradGuard no_grad;
  const auto raw = model->forward(torch::rand({2, 3, 320, 256}));
  ASSERT_EQ(raw.size(), 3U);
  EXPECT_EQ(raw[0].sizes(), (std::vector<std::int64_t>{2, 68, 40, 32}));  // stride 8
  EXPECT_EQ(raw[1].sizes(), (std::vector<std::int64_t>{2, 68, 20, 16}));  // stride 16
  EXPECT_EQ(raw[2].sizes(), (std::vector<std::int64_t>{2, 68, 10, 8}));   // stride 32
  const auto out = model->head->decode(raw);
  EXPECT_EQ(out.sizes(), (std::vector<std::int64_t>{2, 8, 40 * 32 + 20 * 16 + 10 * 8}));
  // Scores are probabilities; box sizes are positive and centres lie near the image.
  const auto scores = out.slice(1, 4, 8);
  EXPECT_GE(scores.min().item<float>(), 0.0F);
  EXPECT_LE(scores.max().item<float>(), 1.0F);
  EXPECT_GT(out.slice(1, 2, 4).min().item<float>(), 0.0F);
}

TEST(YoloModel, DflDecodesAHandMadeDistribution) {
  // Raw 1×1 maps for the three strides, all mass on bin 2 for every side: each side lies two
  // strides from the cell centre, so the box is 4 strides wide.
  vision::train::DetectHead head(1, 16, std::vector<int>{16, 16, 16});
  std::vector<torch::Tensor> raw;
  for (int i = 0; i < 3; ++i) {
    auto map = torch::full({1, 65, 1, 1}, -1e4);
    for (int side = 0; side < 4; ++side) map.index_put_({0, side * 16 + 2, 0, 0}, 1e4);
    map.index_put_({0, 64, 0, 0}, 0.0);  // class logit 0 → score 0.5
    raw.push_back(map);
  }
  const auto out = head->decode(raw);
  ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{1, 5, 3}));
  const double strides[] = {8, 16, 32};
  for (int a = 0; a < 3; ++a) {
    EXPECT_NEAR(out[0][0][a].item<double>(), 0.5 * strides[a], 1e-4);  // centre of cell (0, 0)
    EXPECT_NEAR(out[0][2][a].item<double>(), 4 * strides[a], 1e-4);    // width = (2 + 2) · stride
    EXPECT_NEAR(out[0][4][a].item<double>(), 0.5, 1e-6);
  }
}
