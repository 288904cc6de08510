// best.pt and last.pt: weights, buffers, meta and optimiser state round-trip; errors name the file.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <fstream>

#include "helpers/test_support.hpp"
#include "vision/train/checkpoint.hpp"
#include "vision/train/yolo_layers.hpp"

using namespace vision::train;

namespace {

CheckpointMeta sample_meta() {
  CheckpointMeta m;
  m.model = vision::YoloModelOptions{3, 'n', 16};
  m.names = {"circle", "square", "star"};
  m.img_size = 320;
  m.epoch = 7;
  m.epochs = 30;
  m.best_fitness = 0.42;
  m.best_epoch = 6;
  m.ema_updates = 123;
  m.run_id = "exp001-20261126-101010";
  m.history = nlohmann::json::array({{{"epoch", 1}, {"map50", 0.1}}});
  return m;
}

bool same_weights(YoloDetectorImpl& a, YoloDetectorImpl& b) {
  const auto pa = a.named_parameters(true), pb = b.named_parameters(true);
  for (const auto& item : pa) {
    if (!torch::equal(item.value(), *pb.find(item.key()))) return false;
  }
  const auto ba = a.named_buffers(true), bb = b.named_buffers(true);
  for (const auto& item : ba) {
    if (!torch::equal(item.value(), *bb.find(item.key()))) return false;
  }
  return true;
}

}  // namespace

TEST(Checkpoint, BestRoundTripsWeightsBuffersAndMeta) {
  vision::test::TempDir dir;
  torch::manual_seed(3);
  YoloDetector model(sample_meta().model);
  {
    torch::NoGradGuard no_grad;
    model->b0->bn->running_mean.uniform_(-1, 1);  // buffers travel too
  }
  ASSERT_TRUE(save_checkpoint(dir / "best.pt", *model, sample_meta()));
  auto loaded = load_checkpoint(dir / "best.pt");
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(same_weights(*model, *loaded->model));
  EXPECT_FALSE(loaded->model->is_training());
  EXPECT_FALSE(loaded->has_training_state);
  EXPECT_EQ(loaded->meta.names, sample_meta().names);
  EXPECT_EQ(loaded->meta.model.num_classes, 3);
  EXPECT_EQ(loaded->meta.model.scale, 'n');
  EXPECT_EQ(loaded->meta.img_size, 320);
  EXPECT_EQ(loaded->meta.epoch, 7);
  EXPECT_EQ(loaded->meta.ema_updates, 123);
  EXPECT_EQ(loaded->meta.run_id, "exp001-20261126-101010");
  EXPECT_EQ(loaded->meta.history, sample_meta().history);
  EXPECT_FALSE(std::filesystem::exists(dir / "best.pt.tmp"));
}

TEST(Checkpoint, LastCarriesTheOptimiserStateForResume) {
  vision::test::TempDir dir;
  torch::manual_seed(4);
  YoloDetector model(sample_meta().model);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-3));
  const auto loss = model->forward(torch::rand({1, 3, 64, 64}))[0].square().mean();
  loss.backward();
  optimizer.step();
  ASSERT_TRUE(save_checkpoint(dir / "last.pt", *model, sample_meta(), TrainingState{model.get(), &optimizer}));

  YoloDetector restored(sample_meta().model);
  torch::optim::AdamW restored_optimizer(restored->parameters(), torch::optim::AdamWOptions(1e-3));
  ASSERT_TRUE(load_training_state(dir / "last.pt", TrainingState{restored.get(), &restored_optimizer}));
  EXPECT_TRUE(same_weights(*model, *restored));
  // One more identical step on both sides gives identical weights only if the Adam moments came back.
  for (auto* m : {&model, &restored}) {
    auto& opt = m == &model ? optimizer : restored_optimizer;
    opt.zero_grad();
    (*m)->forward(torch::ones({1, 3, 64, 64}))[0].square().mean().backward();
    opt.step();
  }
  EXPECT_TRUE(same_weights(*model, *restored));
  EXPECT_TRUE(load_checkpoint(dir / "last.pt")->has_training_state);
}

TEST(Checkpoint, ErrorsNameTheFile) {
  vision::test::TempDir dir;
  const auto missing = load_checkpoint(dir / "nope.pt");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope.pt"), std::string::npos);
  std::ofstream(dir / "garbage.pt") << "not a checkpoint";
  const auto garbage = load_checkpoint(dir / "garbage.pt");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("garbage.pt"), std::string::npos);

  YoloDetector model(sample_meta().model);
  ASSERT_TRUE(save_checkpoint(dir / "best.pt", *model, sample_meta()));
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1));
  const auto no_state = load_training_state(dir / "best.pt", TrainingState{model.get(), &optimizer});
  ASSERT_FALSE(no_state);
  EXPECT_NE(no_state.error().message.find("last.pt"), std::string::npos);
}
