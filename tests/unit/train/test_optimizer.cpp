// The optimiser choice (SGD or AdamW, nominal batch, decay scaling) and the schedule: parameter
// groups, warm-up of rates, momentum and accumulation, linear and cosine decay.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>

#include "optimizer.hpp"
#include "vision/train/yolo_layers.hpp"

using namespace vision::train;

namespace {

OptimizerOptions shapes_options() {
  OptimizerOptions o;
  o.num_classes = 4;
  return o;
}

}  // namespace

TEST(Optimizer, AutoPicksAdamWForShortTrainingsAsUltralyticsDoes) {
  // 400 images, batch 16, 30 epochs: 7 · 30 = 210 iterations of 64 images ≤ 10 000 → AdamW with
  // lr 0.002·5/(4+4) = 0.00125, momentum 0.9, no bias warm-up. Unlike Ultralytics, each batch of
  // 16 is a step (nbs 16, no accumulation), with the weight decay unscaled: 16·1/16.
  const auto choice = choose_optimizer(shapes_options(), 400, 16, 30);
  EXPECT_EQ(choice.name, "AdamW");
  EXPECT_DOUBLE_EQ(choice.lr0, 0.00125);
  EXPECT_DOUBLE_EQ(choice.momentum, 0.9);
  EXPECT_DOUBLE_EQ(choice.warmup_bias_lr, 0.0);
  EXPECT_EQ(choice.nbs, 16);
  EXPECT_EQ(choice.accumulate, 1);
  EXPECT_DOUBLE_EQ(choice.weight_decay, 5e-4);
}

TEST(Optimizer, AutoKeepsTheNominalBatchForLongTrainings) {
  const auto choice = choose_optimizer(shapes_options(), 118287, 16, 300);
  EXPECT_EQ(choice.nbs, 64);
  EXPECT_EQ(choice.accumulate, 4);
  EXPECT_DOUBLE_EQ(choice.weight_decay, 5e-4);
}

TEST(Optimizer, ExplicitAdamWAccumulatesUpToTheNominalBatch) {
  auto o = shapes_options();
  o.name = "AdamW";
  const auto choice = choose_optimizer(o, 400, 16, 30);
  EXPECT_EQ(choice.nbs, 64);
  EXPECT_EQ(choice.accumulate, 4);
}

TEST(Optimizer, AutoPicksSgdForLongTrainings) {
  const auto choice = choose_optimizer(shapes_options(), 118287, 16, 300);
  EXPECT_EQ(choice.name, "SGD");
  EXPECT_DOUBLE_EQ(choice.lr0, 0.01);
  EXPECT_DOUBLE_EQ(choice.momentum, 0.9);
}

TEST(Optimizer, ExplicitChoiceKeepsTheConfiguredValuesAndScalesDecay) {
  auto o = shapes_options();
  o.name = "SGD";
  o.lr0 = 0.02;
  o.momentum = 0.95;
  const auto choice = choose_optimizer(o, 400, 32, 30);
  EXPECT_EQ(choice.name, "SGD");
  EXPECT_DOUBLE_EQ(choice.lr0, 0.02);
  EXPECT_DOUBLE_EQ(choice.momentum, 0.95);
  EXPECT_EQ(choice.accumulate, 2);
  EXPECT_DOUBLE_EQ(choice.weight_decay, 5e-4 * 32 * 2 / 64);
}

TEST(Schedule, GroupsSeparateBiasesNormWeightsAndDecayedWeights) {
  YoloDetector model(vision::YoloModelOptions{4, 'n', 16});
  auto o = shapes_options();
  o.name = "SGD";
  const auto choice = choose_optimizer(o, 400, 16, 30);
  TrainSchedule schedule(*model, o, choice, 16, 30, 25);
  const auto& groups = schedule.optimizer().param_groups();
  ASSERT_EQ(groups.size(), 3U);
  std::int64_t biases = 0, norms = 0, conv = 0;
  for (const auto& p : model->named_parameters(true)) {
    if (!p.value().requires_grad()) continue;
    if (p.key().ends_with(".bias")) ++biases;
    else if (p.key().find(".bn.") != std::string::npos) ++norms;
    else ++conv;
  }
  EXPECT_EQ(static_cast<std::int64_t>(groups[0].params().size()), biases);
  EXPECT_EQ(static_cast<std::int64_t>(groups[1].params().size()), conv);
  EXPECT_EQ(static_cast<std::int64_t>(groups[2].params().size()), norms);
  EXPECT_DOUBLE_EQ(static_cast<const torch::optim::SGDOptions&>(groups[1].options()).weight_decay(), 5e-4);
  EXPECT_DOUBLE_EQ(static_cast<const torch::optim::SGDOptions&>(groups[0].options()).weight_decay(), 0.0);
  EXPECT_TRUE(static_cast<const torch::optim::SGDOptions&>(groups[1].options()).nesterov());
}

TEST(Schedule, WarmUpRampsRatesMomentumAndAccumulation) {
  YoloDetector model(vision::YoloModelOptions{4, 'n', 16});
  auto o = shapes_options();
  o.name = "SGD";
  o.lr0 = 0.01;
  o.momentum = 0.937;
  const auto choice = choose_optimizer(o, 400, 16, 10);
  TrainSchedule schedule(*model, o, choice, 16, 10, 25);
  ASSERT_EQ(schedule.warmup_iterations(), 100);  // max(3 epochs · 25, 100)
  EXPECT_EQ(schedule.begin_iteration(0, 0), 1);
  auto lr = schedule.learning_rates();
  EXPECT_DOUBLE_EQ(lr[0], 0.1);  // biases start at warmup_bias_lr
  EXPECT_DOUBLE_EQ(lr[1], 0.0);
  const auto& g1 = static_cast<const torch::optim::SGDOptions&>(schedule.optimizer().param_groups()[1].options());
  EXPECT_DOUBLE_EQ(g1.momentum(), 0.8);
  // Half way, epoch 2 (factor 1 - 2/10·0.99): each rate half way between its start and target.
  EXPECT_EQ(schedule.begin_iteration(50, 2), 3);  // round(interp(50, [0,100], [1, 4])) = round(2.5)
  const double target = 0.01 * ((1 - 0.2) * 0.99 + 0.01);
  lr = schedule.learning_rates();
  EXPECT_NEAR(lr[0], (0.1 + target) / 2, 1e-12);
  EXPECT_NEAR(lr[1], target / 2, 1e-12);
  EXPECT_NEAR(g1.momentum(), (0.8 + 0.937) / 2, 1e-12);
  // After warm-up: the epoch's rate for every group, full accumulation.
  EXPECT_EQ(schedule.begin_iteration(101, 5), 4);
  for (double rate : schedule.learning_rates()) EXPECT_NEAR(rate, 0.01 * ((1 - 0.5) * 0.99 + 0.01), 1e-12);
  EXPECT_DOUBLE_EQ(g1.momentum(), 0.937);
}

TEST(Schedule, AutoShortRunStepsEveryBatchThroughTheWarmUp) {
  YoloDetector model(vision::YoloModelOptions{4, 'n', 16});
  const auto o = shapes_options();
  TrainSchedule schedule(*model, o, choose_optimizer(o, 400, 16, 30), 16, 30, 25);
  for (const std::int64_t ni : {0, 50, 99, 100, 500}) EXPECT_EQ(schedule.begin_iteration(ni, 3), 1) << ni;
}

TEST(Schedule, CosineDecayEndsAtLrf) {
  YoloDetector model(vision::YoloModelOptions{4, 'n', 16});
  auto o = shapes_options();
  o.name = "AdamW";
  o.lr0 = 0.001;
  o.cos_lr = true;
  o.warmup_epochs = 0;
  const auto choice = choose_optimizer(o, 400, 16, 10);
  TrainSchedule schedule(*model, o, choice, 16, 10, 25);
  schedule.begin_iteration(0, 0);
  EXPECT_NEAR(schedule.learning_rates()[1], 0.001, 1e-12);
  schedule.begin_iteration(125, 5);
  EXPECT_NEAR(schedule.learning_rates()[1], 0.001 * (0.5 * (0.01 - 1) + 1), 1e-12);
  schedule.begin_iteration(250, 10);
  EXPECT_NEAR(schedule.learning_rates()[1], 0.001 * 0.01, 1e-12);
}
