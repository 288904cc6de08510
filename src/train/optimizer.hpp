// The optimiser and learning-rate schedule of Ultralytics' trainer: three parameter groups
// (biases, decayed weights, BatchNorm weights), SGD with Nesterov momentum or AdamW chosen
// automatically from the length of the training, a linear or cosine decay to lr0·lrf per epoch,
// and a warm-up that ramps the learning rates, the momentum and the gradient accumulation over
// the first iterations. Private to src/train.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

namespace vision::train {

struct OptimizerOptions {
  std::string name = "auto";  // auto | SGD | AdamW
  double lr0 = 0.01;
  double lrf = 0.01;
  double momentum = 0.937;
  double weight_decay = 5e-4;
  double warmup_epochs = 3.0;
  double warmup_bias_lr = 0.1;
  double warmup_momentum = 0.8;
  bool cos_lr = false;
  int nbs = 64;  // nominal batch size: gradients accumulate up to it (not with auto's AdamW)
  int num_classes = 80;
};

// What the automatic choice resolved to, for artifacts and the log.
struct OptimizerChoice {
  std::string name;
  double lr0 = 0;
  double momentum = 0;
  double weight_decay = 0;  // after scaling by batch · accumulate / nbs
  double warmup_bias_lr = 0;
  int nbs = 64;  // the nominal batch in effect
  int accumulate = 1;
};

// Ultralytics' rule: more than 10 000 optimiser iterations → SGD (lr 0.01, momentum 0.9);
// otherwise AdamW with lr 0.002·5/(4 + nc) and momentum 0.9, and no bias warm-up. Vision's
// change for those short runs: every batch is an optimiser step (nbs = batch size), since
// accumulating to 64 images leaves a small data set a few hundred steps in all.
OptimizerChoice choose_optimizer(const OptimizerOptions& options, std::int64_t dataset_size, int batch_size, int epochs);

class TrainSchedule {
 public:
  // Groups: 0 = biases (no decay), 1 = conv/linear weights (decay), 2 = BatchNorm weights (no decay).
  TrainSchedule(torch::nn::Module& model, const OptimizerOptions& options, const OptimizerChoice& choice,
                int batch_size, int epochs, std::int64_t batches_per_epoch);

  torch::optim::Optimizer& optimizer() { return *m_optimizer; }
  const OptimizerChoice& choice() const { return m_choice; }

  // Called before iteration `ni` (counted from the start of training) of `epoch`: sets the
  // learning rates (and momentum) for warm-up or for the epoch, and returns how many
  // iterations to accumulate before an optimiser step.
  int begin_iteration(std::int64_t ni, int epoch);
  // Learning rate of each group right now (results.csv lr/pg0..pg2).
  std::array<double, 3> learning_rates() const;
  std::int64_t warmup_iterations() const { return m_warmup_iterations; }

 private:
  double epoch_factor(int epoch) const;
  void set_group(size_t group, double lr, double momentum);

  OptimizerOptions m_options;
  OptimizerChoice m_choice;
  int m_epochs;
  int m_batch_size;
  std::int64_t m_warmup_iterations;
  std::unique_ptr<torch::optim::Optimizer> m_optimizer;
};

}  // namespace vision::train
