// The Faster R-CNN ONNX export against LibTorch's eval forward: the same untrained model (its
// heads' weights spread so that detections come out and their scores differ well above float
// noise) run by ONNX Runtime and by LibTorch must give, after NMS, the same count and labels,
// boxes within 1e-2 px and scores within 1e-4, on images of several sizes; and the inference
// engine (Detector) must run the export unchanged.
#include <gtest/gtest.h>

#include <onnxruntime_cxx_api.h>
#include <torch/torch.h>

#include <algorithm>

#include <opencv2/core.hpp>

#include <nlohmann/json.hpp>

#include "faster_rcnn_onnx.hpp"
#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/export/model_export.hpp"
#include "vision/infer/detector.hpp"
#include "vision/train/faster_rcnn/faster_rcnn.hpp"
#include "vision/train/faster_rcnn/weights.hpp"

using vision::test::TempDir;
namespace frcnn = vision::train::faster_rcnn;

namespace {

const std::vector<std::string> k_names(vision::k_shape_class_names.begin(),
                                       vision::k_shape_class_names.begin() + 3);
// Input sizes {h, w}: landscape, portrait, square and one whose long side hits max_size.
const std::vector<std::array<int64_t, 2>> k_sizes = {
    {180, 240}, {250, 170}, {200, 200}, {120, 330}};
constexpr int k_min_detections = 5;  // per image: a parity on no boxes would prove nothing

frcnn::FasterRcnn untrained_model(const std::string& variant, int64_t img_size) {
  torch::manual_seed(11);
  auto spec = frcnn::variant_spec(variant);
  EXPECT_TRUE(spec);
  frcnn::FasterRcnn model(*spec, static_cast<int64_t>(k_names.size()),
                          frcnn::transform_options_for_img_size(img_size));
  torch::NoGradGuard no_grad;
  // Wider heads than the N(0, 0.01²) start: objectness and class scores then differ by far more
  // than the two runtimes' rounding, so TopK, the thresholds and NMS choose the same boxes.
  torch::nn::init::normal_(model->rpn->head->cls_logits->weight, 0.0, 0.3);
  torch::nn::init::normal_(model->rpn->head->bbox_pred->weight, 0.0, 0.02);
  torch::nn::init::normal_(model->roi_heads->box_predictor->cls_score->weight, 0.0, 0.3);
  torch::nn::init::normal_(model->roi_heads->box_predictor->bbox_pred->weight, 0.0, 0.05);
  for (auto& module : model->modules(false)) {
    if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      bn->running_mean.uniform_(-0.1, 0.1);
      bn->running_var.uniform_(0.8, 1.2);
    }
  }
  model->eval();
  return model;
}

struct Result {
  torch::Tensor boxes, labels, scores;  // labels 1-based as the export gives them
};

Result ort_run(Ort::Session& session, const torch::Tensor& image) {
  auto input = image.unsqueeze(0).contiguous();
  std::vector<std::int64_t> dims(input.sizes().begin(), input.sizes().end());
  auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value tensor =
      Ort::Value::CreateTensor<float>(memory, input.data_ptr<float>(),
                                      static_cast<size_t>(input.numel()), dims.data(), dims.size());
  const char* in_names[] = {"images"};
  const char* out_names[] = {"boxes", "labels", "scores"};
  auto outputs = session.Run(Ort::RunOptions{nullptr}, in_names, &tensor, 1, out_names, 3);
  const auto count = static_cast<int64_t>(outputs[2].GetTensorTypeAndShapeInfo().GetElementCount());
  return {
      torch::from_blob(outputs[0].GetTensorMutableData<float>(), {count, 4}, torch::kFloat).clone(),
      torch::from_blob(outputs[1].GetTensorMutableData<int64_t>(), {count}, torch::kLong).clone(),
      torch::from_blob(outputs[2].GetTensorMutableData<float>(), {count}, torch::kFloat).clone()};
}

Ort::Session open_session(const std::filesystem::path& file) {
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "faster-rcnn-export-test");
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(2);
  return Ort::Session(env, file.c_str(), options);
}

// A smooth image with some structure (blurred noise), float [3, h, w] in 0..1.
torch::Tensor test_image(std::array<int64_t, 2> size, int seed) {
  torch::manual_seed(seed);
  const auto coarse = torch::rand({1, 3, size[0] / 10 + 2, size[1] / 10 + 2});
  namespace F = torch::nn::functional;
  return F::interpolate(coarse, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{size[0], size[1]})
                                    .mode(torch::kBilinear)
                                    .align_corners(false))
      .squeeze(0)
      .clamp(0, 1);
}

void expect_parity(const std::string& variant, int64_t img_size) {
  TempDir dir;
  auto model = untrained_model(variant, img_size);
  const auto file = dir / "model.onnx";
  vision::OnnxExportOptions options{
      file, static_cast<int>(img_size), static_cast<int>(img_size), 17, k_names, "run-f"};
  const auto written = vision::onnx_export::write_faster_rcnn_onnx(*model, options);
  ASSERT_TRUE(written) << written.error().message;
  auto session = open_session(file);
  for (size_t i = 0; i < k_sizes.size(); ++i) {
    const auto image = test_image(k_sizes[i], static_cast<int>(i) + 1);
    frcnn::ImageResult expected;
    {
      torch::NoGradGuard no_grad;
      expected = model->forward({image}).results.at(0);
    }
    const auto actual = ort_run(session, image);
    const std::string where =
        variant + " at " + std::to_string(img_size) + ", image " + std::to_string(i);
    ASSERT_GE(expected.scores.size(0), k_min_detections) << where;
    ASSERT_EQ(actual.scores.size(0), expected.scores.size(0)) << where;
    EXPECT_TRUE(torch::equal(actual.labels, expected.classes + 1)) << where;
    EXPECT_LE((actual.boxes - expected.boxes).abs().max().item<double>(), 1e-2) << where;
    EXPECT_LE((actual.scores - expected.scores).abs().max().item<double>(), 1e-4) << where;
  }
}

}  // namespace

TEST(FasterRcnnExport, MobileNetV3MatchesLibTorchAfterNms) {
  expect_parity("mobilenet_v3", 192);
}

TEST(FasterRcnnExport, ResNet18FpnMatchesLibTorchAfterNms) {
  expect_parity("resnet18_fpn", 160);
}

TEST(FasterRcnnExport, DetectorRunsTheExportInOriginalPixels) {
  TempDir dir;
  auto model = untrained_model("mobilenet_v3", 224);
  const auto file = dir / "model.onnx";
  ASSERT_TRUE(
      vision::onnx_export::write_faster_rcnn_onnx(*model, {file, 224, 224, 17, k_names, "run-d"}));
  auto detector = vision::Detector::open({.model_path = file,
                                          .confidence = 0.0F,
                                          .nms_iou_threshold = 1.0F,
                                          .threads = 2,
                                          .device = "cpu"});
  ASSERT_TRUE(detector) << detector.error().message;
  const auto& info = (*detector)->model();
  EXPECT_EQ(info.format, vision::ModelFormat::boxes_labels_scores);
  EXPECT_TRUE(info.dynamic_size);
  EXPECT_EQ(info.names, k_names);
  EXPECT_EQ(info.metadata.at("variant"), "mobilenet_v3");
  EXPECT_EQ(info.metadata.at("run_id"), "run-d");

  // A BGR frame; LibTorch gets the same pixels as RGB in 0..1.
  const auto rgb = test_image({210, 280}, 5);
  const auto bytes = (rgb * 255).round().to(torch::kUInt8);
  const auto bgr = bytes.flip({0}).permute({1, 2, 0}).contiguous();
  cv::Mat frame(210, 280, CV_8UC3, bgr.data_ptr<uint8_t>());
  frcnn::ImageResult expected;
  {
    torch::NoGradGuard no_grad;
    expected = model->forward({bytes.to(torch::kFloat) / 255}).results.at(0);
  }
  auto result = (*detector)->detect(frame);
  ASSERT_TRUE(result) << result.error().message;
  auto detections = result->detections;
  ASSERT_GE(expected.scores.size(0), k_min_detections);
  ASSERT_EQ(static_cast<int64_t>(detections.size()), expected.scores.size(0));
  std::ranges::stable_sort(detections, std::ranges::greater{}, &vision::Detection::score);
  for (size_t i = 0; i < detections.size(); ++i) {
    const auto k = static_cast<int64_t>(i);
    EXPECT_EQ(detections[i].class_id, expected.classes[k].item<int64_t>()) << i;
    EXPECT_NEAR(detections[i].score, expected.scores[k].item<float>(), 1e-4) << i;
    for (int c = 0; c < 4; ++c)
      EXPECT_NEAR(detections[i].bbox_xyxy[c], expected.boxes[k][c].item<float>(), 1e-2) << i;
  }
}

TEST(FasterRcnnExport, ExportModelTakesAWeightFileAndSkipsInt8) {
  // export_model tells a weight file from a YOLO checkpoint; the shape data set supplies the
  // parity images. INT8 is asked for and skipped with its reason in the report and manifest.
  TempDir dir;
  const auto all_names = vision::k_shape_class_names;
  ASSERT_TRUE(vision::write_shape_dataset(
      {.out_dir = dir / "data", .train_images = 2, .val_images = 2, .size = 160}));
  torch::manual_seed(4);
  auto spec = frcnn::variant_spec("mobilenet_v3");
  ASSERT_TRUE(spec);
  frcnn::FasterRcnn model(*spec, static_cast<int64_t>(all_names.size()),
                          frcnn::transform_options_for_img_size(160));
  model->eval();
  const std::vector<std::string> names(all_names.begin(), all_names.end());
  ASSERT_TRUE(frcnn::save_weights(dir / "best.pt", *model, {spec->name, names, 160}));
  vision::ModelExportOptions options;
  options.checkpoint = dir / "best.pt";
  options.output_dir = dir / "models";
  options.run_id = "exp-f";
  options.dataset.dir = dir / "data";
  options.latency_runs = 2;
  options.threads = 2;
  const auto report = vision::export_model(options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(std::filesystem::exists(dir / "models" / "model.onnx"));
  EXPECT_FALSE(std::filesystem::exists(dir / "models" / "model-int8.onnx"));
  EXPECT_TRUE(report->int8.path.empty());
  EXPECT_FALSE(report->int8_skipped.empty());
  EXPECT_EQ(report->parity_images, 2);
  EXPECT_TRUE(report->parity.ok());
  EXPECT_TRUE(report->evaluated);
  EXPECT_GT(report->fp32.latency_ms, 0);
  const auto manifest = nlohmann::json::parse(vision::test::read_text(report->manifest));
  EXPECT_EQ(manifest.at("format"), "faster-rcnn-boxes-labels-scores-onnx");
  EXPECT_EQ(manifest.at("variant"), "mobilenet_v3");
  EXPECT_EQ(manifest.at("int8_skipped"), report->int8_skipped);
  EXPECT_EQ(vision::to_json(*report).at("int8_skipped"), report->int8_skipped);
}
