// The Faster R-CNN training step — forward, the four losses, backward, SGD step — on fixed
// random images and boxes, timed per stage, so a profile can be set against torchvision's
// (bench/faster_rcnn/torchvision_step.py prints the same stages for the same shapes).
//   bench_frcnn_step [--variant mobilenet_v3] [--size 320] [--batch 2] [--threads 1] [--steps 5]
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "compute_threads.hpp"
#include "vision/core/config.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"

namespace frcnn = vision::train::faster_rcnn;

namespace {

using Clock = std::chrono::steady_clock;

// The stages of one step, in the order they run.
constexpr std::array<const char*, 6> k_stages = {"transform", "backbone", "rpn", "roi_heads", "backward", "sgd"};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int size = 320, batch = 2, threads = 1, steps = 5, boxes = 4, classes = 3;
  std::string variant_name = "mobilenet_v3";
  const auto variants = vision::faster_rcnn_variants();
  CLI::App app{"The Faster R-CNN training step in images per second, timed per stage"};
  app.add_option("--variant", variant_name, "train.faster_rcnn.variant")
      ->capture_default_str()
      ->check(CLI::IsMember(std::vector<std::string>(variants.begin(), variants.end())));
  app.add_option("--size", size, "train.img_size: images are size x size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "Images per step")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "LibTorch threads")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "Timed steps (after 2 warm-up steps)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--boxes", boxes, "Boxes per image")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--classes", classes, "Object classes")->capture_default_str()->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  vision::train::set_compute_threads(threads);
  torch::manual_seed(0);
  auto spec = frcnn::variant_spec(variant_name);
  if (!spec) {
    std::fprintf(stderr, "%s\n", spec.error().message.c_str());
    return 1;
  }
  frcnn::FasterRcnn model(*spec, classes, frcnn::transform_options_for_img_size(size));
  model->train();
  // torchvision's references/detection defaults for one process: lr 0.02 / 8 GPUs · 2 images.
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.005).momentum(0.9).weight_decay(1e-4));

  std::vector<torch::Tensor> images;
  std::vector<frcnn::ImageBoxes> targets;
  for (int i = 0; i < batch; ++i) {
    images.push_back(torch::rand({3, size, size}));
    const auto xy = torch::rand({boxes, 2}) * (0.7 * size);
    const auto wh = torch::rand({boxes, 2}) * (0.25 * size) + 0.05 * size;
    targets.push_back({torch::cat({xy, xy + wh}, 1), torch::randint(0, classes, {boxes}, torch::kLong)});
  }

  std::array<std::vector<double>, k_stages.size()> times;
  std::vector<double> totals;
  for (int step = 0; step < steps + 2; ++step) {
    std::array<double, k_stages.size()> t{};
    const auto step_start = Clock::now();
    optimizer.zero_grad();
    // FasterRcnnImpl::forward's training path, stage by stage.
    auto start = Clock::now();
    std::vector<frcnn::ImageTargets> resized;
    const auto images_batch = frcnn::transform_images(images, model->transform);
    for (int i = 0; i < batch; ++i)
      resized.push_back({frcnn::resize_boxes(targets[i].boxes, {size, size}, images_batch.sizes[i]), targets[i].classes + 1});
    t[0] = seconds_since(start);
    start = Clock::now();
    const auto features = model->backbone(images_batch.tensors);
    t[1] = seconds_since(start);
    start = Clock::now();
    const auto proposals = model->rpn(images_batch, features, resized);
    t[2] = seconds_since(start);
    start = Clock::now();
    const auto heads = model->roi_heads(features, proposals.boxes, images_batch.sizes, resized);
    t[3] = seconds_since(start);
    start = Clock::now();
    const auto loss = proposals.losses.objectness + proposals.losses.box_reg + heads.losses.classifier + heads.losses.box_reg;
    loss.backward();
    t[4] = seconds_since(start);
    start = Clock::now();
    optimizer.step();
    t[5] = seconds_since(start);
    const double total = seconds_since(step_start);
    if (step < 2) continue;  // oneDNN picks and caches its kernels on the first steps
    for (size_t s = 0; s < t.size(); ++s) times[s].push_back(t[s]);
    totals.push_back(total);
  }
  const auto median = [](std::vector<double> values) {
    std::ranges::sort(values);
    return values[values.size() / 2];
  };
  std::printf("bench_frcnn_step %s, %d px, batch %d, %d threads: %.3f s/step, %.2f images/s (median of %d steps)\n",
              variant_name.c_str(), size, batch, threads, median(totals), batch / median(totals), steps);
  for (size_t s = 0; s < k_stages.size(); ++s) std::printf("  %-10s %.3f s\n", k_stages[s], median(times[s]));
  return 0;
}
