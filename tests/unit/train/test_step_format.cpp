// The CPU step's formats: channels-last weights keep their values and identity, the forward
// pass under bf16 autocast gives FP32 maps close to FP32's and leaves autocast as it found it,
// and train.yolo.precision falls back to fp32 where bf16 would not pay.
#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>
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
  const auto reference = forward_maps(*model, images, {});
  to_channels_last(*model);
  const auto maps = forward_maps(*model, images, {true, false});
  ASSERT_EQ(maps.size(), reference.size());
  for (size_t i = 0; i < maps.size(); ++i) EXPECT_TRUE(torch::allclose(maps[i], reference[i], 1e-4, 1e-4)) << i;
  EXPECT_TRUE(torch::allclose(model->head->decode(maps), model->head->decode(reference), 1e-3, 1e-3));
}

TEST(StepFormat, Bf16ForwardGivesFp32MapsAndRestoresAutocast) {
  const torch::NoGradGuard no_grad;
  Subject x;
  auto& model = x.model;
  const auto& images = x.images;
  const auto reference = forward_maps(*model, images, {});
  const auto maps = forward_maps(*model, images, {false, true});
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  for (size_t i = 0; i < maps.size(); ++i) {
    EXPECT_EQ(maps[i].scalar_type(), torch::kFloat);
    // bf16 keeps 8 bits of mantissa: the maps agree to a few percent of their spread.
    const double spread = reference[i].abs().max().item<double>();
    EXPECT_LT((maps[i] - reference[i]).abs().max().item<double>(), 0.1 * spread + 0.05) << i;
  }
}

TEST(StepFormat, PrecisionFallsBackToFp32WhereBf16WouldNotPay) {
  struct Case {
    const char* requested;
    bool on_cpu, cpu_bf16, bf16;
    const char* fallback_says;
  };
  const Case cases[] = {
      {"fp32", true, true, false, ""},
      {"fp32", true, false, false, ""},
      {"bf16", true, true, true, ""},
      {"bf16", true, false, false, "neither AVX512-BF16 nor AMX"},
      {"bf16", false, true, false, "train.device = \"cpu\""},
  };
  for (const auto& c : cases) {
    const auto choice = choose_precision(c.requested, c.on_cpu, c.cpu_bf16);
    EXPECT_EQ(choice.bf16, c.bf16) << c.requested << c.on_cpu << c.cpu_bf16;
    if (std::string(c.fallback_says).empty()) {
      EXPECT_TRUE(choice.fallback.empty()) << choice.fallback;
    } else {
      EXPECT_NE(choice.fallback.find(c.fallback_says), std::string::npos) << choice.fallback;
      EXPECT_NE(choice.fallback.find("training in fp32"), std::string::npos) << choice.fallback;
    }
  }
}
