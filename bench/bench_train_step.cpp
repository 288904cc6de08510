// The bare LibTorch training step of the YOLOv8 model — forward, loss, backward, AdamW step on
// a fixed random batch — in images per second: the ceiling `vision train` runs against on this
// CPU. scripts/bench-train prints the trainer's throughput as a ratio of this figure, measured
// in the same run.
//   bench_train_step [--size 320] [--batch 16] [--threads 2] [--steps 8] [--scale n] [--boxes 16]
//                    [--channels-last] [--precision fp32|bf16]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "compute_threads.hpp"
#include "detection_loss.hpp"
#include "step_format.hpp"
#include "vision/train/yolo_layers.hpp"

int main(int argc, char** argv) {
  int size = 320, batch = 16, threads = 2, steps = 8, boxes = 16;
  std::string scale_name = "n", precision = "fp32";
  bool channels_last = false;
  CLI::App app{"The bare LibTorch training step of YOLOv8 in images per second, and the CPU's convolution rate"};
  app.add_option("--size", size, "Input size in pixels (a multiple of 32)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "Images per step")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "LibTorch threads")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "Timed steps (after 2 warm-up steps)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--scale", scale_name, "Model scale")->capture_default_str()->check(CLI::IsMember({"n", "s", "m"}));
  app.add_option("--boxes", boxes, "Boxes per image")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_flag("--channels-last", channels_last, "Model and batch in channels-last memory, as the trainer has them");
  app.add_option("--precision", precision, "train.yolo.precision: the forward pass in fp32 or under bf16 autocast")->capture_default_str()->check(CLI::IsMember({"fp32", "bf16"}));
  CLI11_PARSE(app, argc, argv);
  const char scale = scale_name[0];
  vision::train::set_compute_threads(threads);
  torch::manual_seed(0);
  vision::train::YoloDetector model(vision::YoloModelOptions{4, scale, vision::k_yolo_reg_max});
  model->train();
  if (channels_last) vision::train::to_channels_last(*model);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(1e-3));
  const auto images = torch::rand({batch, 3, size, size});
  const vision::train::StepFormat format{channels_last, precision == "bf16"};
  // Boxes per image as a mosaic of the shapes set has them: small objects spread over the image.
  const vision::train::BatchTargets targets{torch::arange(batch).repeat_interleave(boxes),
                                            torch::randint(0, 4, {batch * boxes}, torch::kLong),
                                            torch::rand({batch * boxes, 4}) * torch::tensor({0.8F, 0.8F, 0.1F, 0.1F}) +
                                                torch::tensor({0.1F, 0.1F, 0.03F, 0.03F})};
  double best = 0, total = 0;
  for (int step = 0; step < steps + 2; ++step) {
    const auto start = std::chrono::steady_clock::now();
    optimizer.zero_grad();
    auto loss = vision::train::detection_loss(vision::train::forward_maps(*model, images, format), targets, 4, model->options.reg_max, {8, 16, 32}, {});
    loss.total.backward();
    optimizer.step();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (step < 2) continue;  // oneDNN picks and caches its kernels on the first steps
    total += seconds;
    best = std::max(best, batch / seconds);
  }
  std::printf("bench_train_step scale %c, %d px, batch %d, %d threads, %d boxes/image, %s%s: %.2f images/s (mean of %d steps), best step %.2f images/s\n",
              scale, size, batch, threads, boxes, precision.c_str(), channels_last ? ", channels-last" : "", steps * batch / total,
              steps, best);

  // 16 x 128 x 80 x 80 through a 128 -> 128 3x3 convolution: large enough that oneDNN's
  // kernels run near the CPU's FP32 peak, with a forward and a backward pass like training.
  auto conv = torch::nn::Conv2d(torch::nn::Conv2dOptions(128, 128, 3).padding(1).bias(false));
  const auto input = torch::rand({16, 128, 80, 80}, torch::requires_grad());
  const double flops = 3.0 * 2.0 * 128 * 128 * 9 * 80 * 80 * 16;  // forward + two backward GEMMs
  double peak = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    conv->forward(input).sum().backward();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep > 0) peak = std::max(peak, flops / seconds / 1e9);
  }
  std::printf("bench_train_step large 3x3 convolution, forward + backward, %d threads: %.1f GFLOP/s (best of 3)\n",
              threads, peak);
  return 0;
}
