// Predict-path overhead: the full detector path (letterbox, BGR→RGB/255, ONNX Runtime, decode,
// NMS, boxes back to pixels) against a bare ONNX Runtime Run on the same model and an
// already prepared tensor. Both are timed in one run, interleaved, and reported as medians and
// their ratio (SPEC: machines are noisy, compare ratios).
//   bench_predict [MODEL.onnx] [--iterations N] [--threads T] [--width W --height H]
//   bench_predict --untrained-size 640   exports an untrained YOLOv8n (4 classes) at that size
//                                        first: the compute of a real one, before any training
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vision/data/synthetic_shapes.hpp"
#ifdef VISION_WITH_TRAINING
#include "vision/export/onnx_export.hpp"
#endif
#include "vision/core/percentile.hpp"
#include "vision/image/letterbox.hpp"
#include "vision/infer/detector.hpp"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::string model = std::string(VISION_SOURCE_DIR) + "/../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";
  int iterations = 50, threads = 2, width = 640, height = 480, untrained_size = 0;
  CLI::App app{"Predict-path overhead: detect() against a bare ONNX Runtime Run, medians and their ratio"};
  app.add_option("model", model, "Detection ONNX model")->capture_default_str();
  app.add_option("--iterations", iterations, "Timed runs of each path")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "ONNX Runtime threads (0: its default)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--width", width, "Frame width")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--height", height, "Frame height")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--untrained-size", untrained_size, "Export an untrained YOLOv8n (4 classes) at this input size and time it instead")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  if (untrained_size > 0) {
#ifndef VISION_WITH_TRAINING
    std::fprintf(stderr, "bench_predict: --untrained-size needs a build with VISION_WITH_TRAINING\n");
    return 1;
#else
    model = (std::filesystem::temp_directory_path() / ("vision-bench-yolov8n-" + std::to_string(untrained_size) + ".onnx")).string();
    auto exported = vision::export_untrained_yolo({4, 'n', 16}, {model, untrained_size, untrained_size, 17, vision::k_shape_class_names, "bench"}, 0);
    if (!exported) {
      std::fprintf(stderr, "bench_predict: %s\n", exported.error().message.c_str());
      return 1;
    }
#endif
  }
  auto detector = vision::Detector::open({.model_path = model, .threads = threads, .device = "cpu"});
  if (!detector) {
    std::fprintf(stderr, "bench_predict: %s\n", detector.error().message.c_str());
    return 1;
  }
  const auto& info = (*detector)->model();
  // A camera-sized frame of the synthetic shapes, encoded as JPEG like a file on disk.
  cv::Mat frame;
  cv::resize(vision::make_shape_sample(1, {std::max(width, height), 2, 6}).image, frame, cv::Size(width, height));
  std::vector<uchar> jpeg;
  cv::imencode(".jpg", frame, jpeg);
  cv::Mat letterboxed;
  vision::letterbox(frame, {info.input_width, info.input_height, vision::k_letterbox_pad_value, true}, letterboxed);
  std::vector<float> tensor(3 * static_cast<size_t>(info.input_width) * static_cast<size_t>(info.input_height));
  vision::bgr_to_rgb_chw(letterboxed, tensor.data());

  const auto time_ms = [](auto&& body) {
    const auto t0 = Clock::now();
    body();
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  for (int i = 0; i < 10; ++i) {  // warm-up
    (void)(*detector)->run_raw(tensor.data(), 1);
    (void)(*detector)->detect(frame);
  }
  std::vector<double> bare, full, full_with_decode;
  for (int i = 0; i < iterations; ++i) {
    bare.push_back(time_ms([&] { (void)(*detector)->run_raw(tensor.data(), 1); }));
    full.push_back(time_ms([&] { (void)(*detector)->detect(frame); }));
    full_with_decode.push_back(time_ms([&] { (void)(*detector)->detect(cv::imdecode(jpeg, cv::IMREAD_COLOR)); }));
  }
  const double b = vision::percentile(bare, 0.5);
  const double f = vision::percentile(full, 0.5);
  const double j = vision::percentile(full_with_decode, 0.5);
  std::printf("model %s (%s, %dx%d input), frame %dx%d, %d threads, median of %d\n", model.c_str(),
              vision::model_format_name(info.format), info.input_width, info.input_height, width, height, threads, iterations);
  std::printf("%-44s %9.2f ms\n", "bare ONNX Runtime Run (baseline)", b);
  std::printf("%-44s %9.2f ms  ratio %.3f  overhead %+.1f %%\n", "detect(): letterbox+run+decode+NMS", f, f / b, (f / b - 1) * 100);
  std::printf("%-44s %9.2f ms  ratio %.3f  overhead %+.1f %%\n", "JPEG decode + detect()", j, j / b, (j / b - 1) * 100);
  return 0;
}
