// The YOLOv8 detection loss: the class term alone without targets, and a loss that falls as
// the model learns one image.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

#include "detection_loss.hpp"
#include "vision/train/yolo_layers.hpp"

using vision::train::BatchTargets;
using vision::train::detection_loss;

namespace {
const std::vector<double> k_strides = {8, 16, 32};
}

TEST(DetectionLoss, WithoutTargetsOnlyTheClassTermRemains) {
  // Every class logit 0 → BCE ln 2 each; no positives → box and DFL are 0; the class term is
  // normalised by max(sum of target scores, 1) = 1 and weighted 0.5.
  std::vector<torch::Tensor> raw;
  for (int size : {8, 4, 2}) raw.push_back(torch::zeros({1, 64 + 2, size, size}));
  const BatchTargets none{torch::zeros({0}, torch::kLong), torch::zeros({0}, torch::kLong), torch::zeros({0, 4})};
  const auto loss = detection_loss(raw, none, 2, 16, k_strides, {});
  EXPECT_EQ(loss.box, 0.0);
  EXPECT_EQ(loss.dfl, 0.0);
  const double anchors = 64 + 16 + 4;
  EXPECT_NEAR(loss.cls, 0.5 * anchors * 2 * std::log(2.0), 1e-3);
  EXPECT_NEAR(loss.total.item<double>(), loss.cls, 1e-3);
}

TEST(DetectionLoss, FallsWhenTheModelLearnsOneImage) {
  torch::manual_seed(0);
  vision::train::YoloDetector model(vision::YoloModelOptions{2, 'n', 16});
  model->train();
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(2e-3));
  const auto image = torch::rand({2, 3, 96, 96});
  const BatchTargets targets{torch::tensor({0, 1, 1}, torch::kLong), torch::tensor({1, 0, 1}, torch::kLong),
                             torch::tensor({{0.5F, 0.5F, 0.4F, 0.3F}, {0.3F, 0.3F, 0.2F, 0.2F}, {0.7F, 0.6F, 0.3F, 0.4F}})};
  double first = 0, last = 0;
  for (int step = 0; step < 12; ++step) {
    optimizer.zero_grad();
    const auto loss = detection_loss(model->forward(image), targets, 2, 16, k_strides, {});
    ASSERT_TRUE(std::isfinite(loss.total.item<double>()));
    if (step == 0) {
      first = loss.total.item<double>();
      EXPECT_GT(loss.box, 0.0);
      EXPECT_GT(loss.dfl, 0.0);
    }
    last = loss.total.item<double>();
    loss.total.backward();
    optimizer.step();
  }
  EXPECT_LT(last, 0.8 * first) << "first " << first << ", last " << last;
}
