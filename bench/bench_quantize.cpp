// INT8 against FP32: quantizes a model both ways (dynamic; static QDQ calibrated on images), then
// times the bare ONNX Runtime Run of the three files on one prepared batch-1 tensor, interleaved,
// and reports medians, ratios to FP32 and file sizes. With --dataset it also validates all three
// on the data set's val split (calibrating on its train images) and reports mAP. With
// --ort-quantizer it adds the peer: the same model quantized by ONNX Runtime's own Python
// quantizer (bench/ort_quantize.py) on the same calibration images, timed in the same loop.
//   bench_quantize [MODEL.onnx] [--untrained-size N] [--iterations N] [--threads T]
//                  [--calibration N] [--method percentile|min_max] [--dataset DIR] [--keep DIR]
//                  [--ort-quantizer]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <opencv2/imgcodecs.hpp>

#include "vision/core/percentile.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/eval/validate.hpp"
#include "vision/export/onnx_export.hpp"
#include "vision/export/quantize.hpp"
#include "vision/image/image_files.hpp"
#include "vision/image/letterbox.hpp"
#include "vision/infer/detector.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Variant {
  std::string name;
  fs::path file;
  std::unique_ptr<vision::Detector> detector;
  std::vector<double> times;
};

int fail(const std::string& message) {
  std::fprintf(stderr, "bench_quantize: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path model =
      fs::path(VISION_SOURCE_DIR) / "../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";
  fs::path dataset, keep;
  int iterations = 50, threads = 2, untrained_size = 0, calibration_count = 32;
  bool ort_quantizer = false;
  std::string method_name = "percentile";
  CLI::App app{"INT8 against FP32: dynamic and static QDQ quantization, timed against the FP32 model"};
  app.add_option("model", model, "Detection ONNX model")->capture_default_str();
  app.add_option("--untrained-size", untrained_size, "Export an untrained YOLOv8n (4 classes) at this input size and use it instead")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--iterations", iterations, "Timed runs of each model")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "ONNX Runtime threads (0: its default)")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--calibration", calibration_count, "Calibration images")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--method", method_name, "Calibration method")
      ->capture_default_str()
      ->check(CLI::IsMember({"percentile", "min_max"}));
  app.add_option("--dataset", dataset, "YOLO data set: calibrate on its train images, validate all three on its val split");
  app.add_option("--keep", keep, "Folder for the quantized models and calibration images (default: a temporary one)");
  app.add_flag("--ort-quantizer", ort_quantizer, "Add ONNX Runtime's own Python quantizer as the peer (bench/ort_quantize.py)");
  CLI11_PARSE(app, argc, argv);
  const auto method =
      method_name == "min_max" ? vision::CalibrationMethod::min_max : vision::CalibrationMethod::percentile;
  const fs::path work = keep.empty() ? fs::temp_directory_path() / "vision-bench-quantize" : keep;
  fs::create_directories(work / "calibration");
  if (untrained_size > 0) {
    model = work / ("yolov8n-" + std::to_string(untrained_size) + ".onnx");
    auto exported = vision::export_untrained_yolo(
        {4, 'n', 16},
        {model, untrained_size, untrained_size, 17, vision::k_shape_class_names, "bench"}, 0);
    if (!exported) return fail(exported.error().message);
  }

  // Calibration images: the data set's train split, or synthetic shapes.
  std::vector<fs::path> calibration;
  if (!dataset.empty()) {
    calibration = vision::list_images(dataset / "images" / "train");
    if (calibration.size() > static_cast<size_t>(calibration_count))
      calibration.resize(static_cast<size_t>(calibration_count));
  } else {
    for (int i = 0; i < calibration_count; ++i) {
      calibration.push_back(work / "calibration" / ("shapes_" + std::to_string(i) + ".png"));
      cv::imwrite(
          calibration.back().string(),
          vision::make_shape_sample(static_cast<std::uint64_t>(100 + i), {.size = 320}).image);
    }
  }

  std::vector<Variant> variants;
  variants.push_back({"FP32", model, nullptr, {}});
  for (const auto mode : {vision::QuantizeMode::dynamic, vision::QuantizeMode::static_qdq}) {
    const bool is_static = mode == vision::QuantizeMode::static_qdq;
    const fs::path output =
        work / (model.stem().string() + (is_static ? "-int8-static.onnx" : "-int8-dynamic.onnx"));
    const auto t0 = Clock::now();
    auto report = vision::quantize_onnx({.input = model,
                                         .output = output,
                                         .mode = mode,
                                         .calibration_images = calibration,
                                         .method = method,
                                         .threads = threads});
    if (!report) return fail(report.error().message);
    std::printf("%-8s quantized in %.1f s: %d nodes integer, %d float\n",
                is_static ? "static" : "dynamic",
                std::chrono::duration<double>(Clock::now() - t0).count(), report->quantized_nodes,
                report->float_nodes);
    variants.push_back({is_static ? "static QDQ" : "dynamic", output, nullptr, {}});
  }
  if (ort_quantizer) {
    const fs::path output = work / (model.stem().string() + "-int8-ort.onnx");
    std::string command = "python3 '" + std::string(VISION_SOURCE_DIR) + "/bench/ort_quantize.py' '" +
                          model.string() + "' '" + output.string() + "'";
    for (const auto& image : calibration) command += " '" + image.string() + "'";
    command += " >" + (work / "ort_quantize.log").string() + " 2>&1";
    const auto t0 = Clock::now();
    if (std::system(command.c_str()) != 0)
      return fail("ONNX Runtime's quantizer failed, see " + (work / "ort_quantize.log").string());
    std::printf("ORT      quantized in %.1f s (onnxruntime.quantization.quantize_static, min-max)\n",
                std::chrono::duration<double>(Clock::now() - t0).count());
    variants.push_back({"ORT static", output, nullptr, {}});
  }

  for (auto& variant : variants) {
    auto detector =
        vision::Detector::open({.model_path = variant.file, .threads = threads, .device = "cpu"});
    if (!detector) return fail(detector.error().message);
    variant.detector = std::move(*detector);
  }
  const auto& info = variants.front().detector->model();
  cv::Mat letterboxed;
  vision::letterbox(vision::make_shape_sample(1, {.size = 320}).image,
                    {info.input_width, info.input_height, vision::k_letterbox_pad_value, true}, letterboxed);
  std::vector<float> tensor(3 * static_cast<size_t>(info.input_width) *
                            static_cast<size_t>(info.input_height));
  vision::bgr_to_rgb_chw(letterboxed, tensor.data());
  for (int i = 0; i < 10; ++i) {  // warm-up
    for (auto& variant : variants) (void)variant.detector->run_raw(tensor.data(), 1);
  }
  for (int i = 0; i < iterations; ++i) {
    for (auto& variant : variants) {
      const auto t0 = Clock::now();
      (void)variant.detector->run_raw(tensor.data(), 1);
      variant.times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
  }

  std::printf("model %s (%dx%d input), batch 1, %d threads, median of %d, interleaved\n",
              model.string().c_str(), info.input_width, info.input_height, threads, iterations);
  const double fp32_ms = vision::percentile(variants.front().times, 0.5);
  const double fp32_bytes = static_cast<double>(fs::file_size(model));
  for (const auto& variant : variants) {
    const double ms = vision::percentile(variant.times, 0.5);
    const auto bytes = fs::file_size(variant.file);
    std::printf("%-11s %8.2f ms  %5.2fx FP32 speed  %10ju bytes  %4.2fx smaller\n",
                variant.name.c_str(), ms, fp32_ms / ms, static_cast<std::uintmax_t>(bytes),
                fp32_bytes / static_cast<double>(bytes));
  }

  if (!dataset.empty()) {
    for (auto& variant : variants) {
      auto options = vision::default_validate_options();
      options.dataset.dir = dataset;
      options.detector.model_path = variant.file;
      options.detector.threads = threads;
      options.detector.device = "cpu";
      auto metrics = vision::validate_onnx(options);
      if (!metrics) return fail(metrics.error().message);
      std::printf("%-11s mAP50 %.4f  mAP50-95 %.4f  (%jd images)\n", variant.name.c_str(),
                  metrics->map50, metrics->map50_95, static_cast<std::intmax_t>(metrics->images));
    }
  }
  return 0;
}
