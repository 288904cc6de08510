// The ONNX export against LibTorch: the same model (with non-trivial BatchNorm statistics) run
// by ONNX Runtime and by LibTorch must agree, at batch 1 and 4, on a non-square input.
#include <gtest/gtest.h>

#include <onnxruntime_cxx_api.h>
#include <torch/torch.h>

#include "helpers/test_support.hpp"
#include "torch_bridge.hpp"
#include "vision/infer/detector.hpp"
#include "vision/train/onnx_weights.hpp"
#include "vision/train/yolo_layers.hpp"

using vision::test::TempDir;

namespace {

constexpr int k_height = 256;
constexpr int k_width = 320;

vision::train::YoloDetector random_model(int classes) {
  torch::manual_seed(3);
  vision::train::YoloDetector model(vision::YoloModelOptions{classes, 'n', 16});
  torch::NoGradGuard no_grad;
  for (auto& module : model->modules(false)) {
    if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      bn->running_mean.uniform_(-0.2, 0.2);
      bn->running_var.uniform_(0.5, 1.5);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
    }
  }
  model->eval();
  return model;
}

std::vector<float> ort_run(const std::filesystem::path& file, const torch::Tensor& images, std::vector<std::int64_t>& shape) {
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "export-test");
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(2);
  Ort::Session session(env, file.c_str(), options);
  auto input = images.contiguous();
  std::vector<std::int64_t> dims(input.sizes().begin(), input.sizes().end());
  auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value tensor = Ort::Value::CreateTensor<float>(memory, input.data_ptr<float>(), static_cast<size_t>(input.numel()), dims.data(), dims.size());
  const char* in_names[] = {"images"};
  const char* out_names[] = {"output0"};
  auto outputs = session.Run(Ort::RunOptions{nullptr}, in_names, &tensor, 1, out_names, 1);
  shape = outputs[0].GetTensorTypeAndShapeInfo().GetShape();
  const float* data = outputs[0].GetTensorData<float>();
  return std::vector<float>(data, data + outputs[0].GetTensorTypeAndShapeInfo().GetElementCount());
}

}  // namespace

TEST(OnnxExport, OnnxRuntimeMatchesLibTorchAtBatchOneAndFour) {
  TempDir dir;
  auto model = random_model(4);
  vision::OnnxExportOptions options{dir / "model.onnx", k_height, k_width, 17, {"circle", "square", "triangle", "star"}, "run-1"};
  ASSERT_TRUE(vision::onnx_export::write_yolo_onnx(*model, options));
  for (const int batch : {1, 4}) {
    const auto images = torch::rand({batch, 3, k_height, k_width});
    torch::Tensor expected;
    {
      torch::NoGradGuard no_grad;
      expected = model->head->decode(model->forward(images));
    }
    std::vector<std::int64_t> shape;
    const auto actual = ort_run(dir / "model.onnx", images, shape);
    const std::int64_t anchors = (k_height / 8) * (k_width / 8) + (k_height / 16) * (k_width / 16) + (k_height / 32) * (k_width / 32);
    ASSERT_EQ(shape, (std::vector<std::int64_t>{batch, 8, anchors}));
    const auto ort = torch::from_blob(const_cast<float*>(actual.data()), {batch, 8, anchors}, torch::kFloat);
    const double box_diff = (ort.slice(1, 0, 4) - expected.slice(1, 0, 4)).abs().max().item<double>();
    const double score_diff = (ort.slice(1, 4, 8) - expected.slice(1, 4, 8)).abs().max().item<double>();
    EXPECT_LE(box_diff, 1e-3) << "batch " << batch;
    EXPECT_LE(score_diff, 1e-4) << "batch " << batch;
    EXPECT_GT(expected.slice(1, 2, 4).max().item<double>(), 10.0);  // boxes are in pixels
  }
}

TEST(OnnxExport, ExportedWeightsImportIntoAFreshModel) {
  // Our own export as starting weights: the fused convs, loaded back, compute what the model did.
  TempDir dir;
  auto model = random_model(4);
  ASSERT_TRUE(vision::onnx_export::write_yolo_onnx(
      *model, {dir / "model.onnx", k_height, k_width, 17, {}, ""}));
  torch::manual_seed(9);
  vision::train::YoloDetector fresh(vision::YoloModelOptions{4, 'n', 16});
  const auto report = vision::train::import_onnx_weights(*fresh, dir / "model.onnx");
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->convs_loaded, 63);
  fresh->eval();
  torch::NoGradGuard no_grad;
  const auto images = torch::rand({1, 3, k_height, k_width});
  const auto expected = model->head->decode(model->forward(images));
  const auto actual = fresh->head->decode(fresh->forward(images));
  EXPECT_LE((actual.slice(1, 0, 4) - expected.slice(1, 0, 4)).abs().max().item<double>(), 1e-3);
  EXPECT_LE((actual.slice(1, 4, 8) - expected.slice(1, 4, 8)).abs().max().item<double>(), 1e-4);
}

TEST(OnnxExport, MetadataAndLayoutReadLikeAnUltralyticsExport) {
  TempDir dir;
  ASSERT_TRUE(vision::export_untrained_yolo({4, 'n', 16}, {dir / "m.onnx", k_height, k_width, 17, {"circle", "square", "it's", "star"}, "exp-7"}, 1));
  auto detector = vision::Detector::open({.model_path = dir / "m.onnx", .threads = 2});
  ASSERT_TRUE(detector) << detector.error().message;
  const auto& info = (*detector)->model();
  EXPECT_EQ(info.format, vision::ModelFormat::yolov8);
  EXPECT_TRUE(info.dynamic_batch);
  EXPECT_EQ(info.input_height, k_height);
  EXPECT_EQ(info.input_width, k_width);
  EXPECT_EQ(info.num_classes, 4);
  EXPECT_EQ(info.names, (std::vector<std::string>{"circle", "square", "it\\'s", "star"}));
  EXPECT_EQ(info.metadata.at("task"), "detect");
  EXPECT_EQ(info.metadata.at("stride"), "32");
  EXPECT_EQ(info.metadata.at("imgsz"), "[256, 320]");
  EXPECT_EQ(info.metadata.at("run_id"), "exp-7");
  EXPECT_TRUE(info.metadata.contains("vision_version"));
  EXPECT_TRUE((*detector)->detect(cv::Mat(200, 300, CV_8UC3, cv::Scalar::all(90))));
}

TEST(OnnxExport, SizesMustBeMultiplesOf32) {
  TempDir dir;
  auto bad = vision::export_untrained_yolo({4, 'n', 16}, {dir / "m.onnx", 250, 320, 17, {}, ""}, 1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, vision::ErrorCode::config);
  EXPECT_FALSE(std::filesystem::exists(dir / "m.onnx"));
  EXPECT_EQ(vision::ultralytics_names_text({"a", "b"}), "{0: 'a', 1: 'b'}");
}
