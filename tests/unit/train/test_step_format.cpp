// The CPU step's channels-last layout: the weights keep their values and identity, and the
// forward maps and their decode match the contiguous model's.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "step_format.hpp"

using namespace vision::train;

namespace {
// An untrained model in eval mode and two random images.
struct Subject {
  Subject() { model->eval(); }
  bool seeded = (torch::manual_seed(3), true);  // first: the weights and images repeat
  YoloDetector model{vision::YoloModelOptions{2, 'n', 16}};
  torch::Tensor images = torch::rand({2, 3, 64, 64});
};
}  // namespace

TEST(StepFormat, ChannelsLastKeepsValuesAndTheTensorsTheOptimiserHolds) {
  torch::manual_seed(3);
  YoloDetector model(vision::YoloModelOptions{2, 'n', 16});
  const auto weight = model->b0->conv->weight;  // shares the TensorImpl, as an optimiser does
  const auto values = weight.clone();
  to_channels_last(*model);
  EXPECT_TRUE(weight.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(model->b0->conv->weight.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(torch::equal(weight, values));
}

TEST(StepFormat, ChannelsLastForwardMatchesTheContiguousOne) {
  const torch::NoGradGuard no_grad;
  Subject x;
  auto& model = x.model;
  const auto& images = x.images;
  const auto reference = forward_maps(*model, images, false);
  to_channels_last(*model);
  const auto maps = forward_maps(*model, images, true);
  ASSERT_EQ(maps.size(), reference.size());
  for (size_t i = 0; i < maps.size(); ++i) EXPECT_TRUE(torch::allclose(maps[i], reference[i], 1e-4, 1e-4)) << i;
  EXPECT_TRUE(torch::allclose(model->head->decode(maps), model->head->decode(reference), 1e-3, 1e-3));
}
