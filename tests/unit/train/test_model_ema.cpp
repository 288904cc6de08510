// The EMA of the model's weights: it follows the model with Ultralytics' ramped decay.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

#include "model_ema.hpp"
#include "vision/train/yolo_layers.hpp"

using namespace vision::train;

TEST(ModelEma, FollowsTheModelWithTheRampedDecay) {
  torch::manual_seed(1);
  YoloDetector model(vision::YoloModelOptions{2, 'n', 16});
  ModelEma ema(*model);
  const auto before = ema.model()->b0->conv->weight.clone();
  EXPECT_TRUE(torch::equal(before, model->b0->conv->weight));
  {
    torch::NoGradGuard no_grad;
    model->b0->conv->weight.add_(1.0);
  }
  ema.update(*model);
  const double d = 0.9999 * (1 - std::exp(-1.0 / 2000));
  const auto expected = before * d + (before + 1.0) * (1 - d);
  EXPECT_TRUE(torch::allclose(ema.model()->b0->conv->weight, expected, 1e-6, 1e-6));
  EXPECT_EQ(ema.updates(), 1);
  EXPECT_FALSE(ema.model()->is_training());
}
