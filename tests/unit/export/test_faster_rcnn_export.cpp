// The Faster R-CNN ONNX export against LibTorch's eval forward: the same untrained model (its
// heads' weights spread so that detections come out and their scores differ well above float
// noise) run by ONNX Runtime and by LibTorch must give, after NMS, the same count and labels,
// boxes within 1e-2 px and scores within 1e-4, on images of several sizes; an image without a
// proposal gives empty outputs; and the inference engine (Detector) must run the export unchanged.
#include <gtest/gtest.h>

#include <onnxruntime_cxx_api.h>
#include <torch/torch.h>

#include <algorithm>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

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

frcnn::FasterRcnn untrained_model(const std::string& variant, int64_t img_size,
                                  const std::vector<std::string>& names = k_names) {
  torch::manual_seed(11);
  auto spec = frcnn::variant_spec(variant);
  EXPECT_TRUE(spec);
  frcnn::FasterRcnn model(*spec, static_cast<int64_t>(names.size()),
                          frcnn::transform_options_for_img_size(img_size));
  torch::NoGradGuard no_grad;
  // Wider heads than the N(0, 0.01²) start: objectness and class scores then differ by far more
  // than the two runtimes' rounding, so TopK, the thresholds and NMS choose the same boxes.
  torch::nn::init::normal_(model->rpn->head->cls_logits->weight, 0.0, 0.3);
  torch::nn::init::normal_(model->rpn->head->bbox_pred->weight, 0.0, 0.02);
  torch::nn::init::normal_(model->roi_heads->box_predictor->cls_score->weight, 0.0, 0.3);
  torch::nn::init::normal_(model->roi_heads->box_predictor->bbox_pred->weight, 0.0, 0.05);
  // BatchNorm statistics away from the start's 0 and 1, so folding them into the convs matters.
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

// Blurred noise, float [3, h, w] in 0..1.
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

// Same count; every LibTorch detection has an ONNX Runtime one of its label with the box within
// 1e-2 px and the score within 1e-4. Matched, not compared row by row: where an image region
// repeats, detections tie on score and each runtime's sort orders the tie its own way.
void expect_same_detections(const Result& actual, const Result& expected,
                            const std::string& where) {
  ASSERT_EQ(actual.scores.size(0), expected.scores.size(0)) << where;
  std::vector<bool> taken(static_cast<size_t>(actual.scores.size(0)), false);
  for (int64_t i = 0; i < expected.scores.size(0); ++i) {
    bool found = false;
    for (int64_t j = 0; j < actual.scores.size(0) && !found; ++j) {
      found = !taken[static_cast<size_t>(j)] &&
              actual.labels[j].item<int64_t>() == expected.labels[i].item<int64_t>() &&
              (actual.boxes[j] - expected.boxes[i]).abs().max().item<double>() <= 1e-2 &&
              std::abs(actual.scores[j].item<double>() - expected.scores[i].item<double>()) <= 1e-4;
      if (found) taken[static_cast<size_t>(j)] = true;
    }
    EXPECT_TRUE(found) << where << ": LibTorch's detection " << i << " (label "
                       << expected.labels[i].item<int64_t>() << ", score "
                       << expected.scores[i].item<float>() << ") has no match";
  }
}

// Which detections the parity compares: after the model's own final NMS, or every candidate that
// NMS would choose from (its IoU threshold at 1 and no cap on the count).
enum class Stage { after_nms, before_final_nms };

void expect_parity(const std::string& variant, int64_t img_size, Stage stage = Stage::after_nms) {
  TempDir dir;
  auto model = untrained_model(variant, img_size);
  if (stage == Stage::before_final_nms) {
    model->roi_heads->options.nms_thresh = 1.0;
    model->roi_heads->options.detections_per_img = 1'000'000;
  }
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
    expect_same_detections(actual, {expected.boxes, expected.classes + 1, expected.scores}, where);
  }
}

}  // namespace

// fasterrcnn_mobilenet_v3_large_fpn pools two FPN maps at the same stride (32) with the same
// anchors, so every anchor gives two proposals a fraction of a pixel apart, and the box head
// (all RoIs pooled from map "0", a 4×10 map for a 120×330 image) scores them equally: in LibTorch
// hundreds of overlapping same-label candidate pairs per image tie exactly or within 1e-6, and
// which one the final NMS keeps is float rounding (ONNX Runtime's scores differ by 3e-8). That is
// torchvision's architecture, not the graph, so this variant is compared on every candidate the
// final NMS chooses from (2000 and more per image: the whole graph up to it, the RPN's NMS
// included); the NMS stage itself is held to LibTorch by the ResNet-18 case, which has no ties.
TEST(FasterRcnnExport, MobileNetV3MatchesLibTorchBeforeTheFinalNms) {
  expect_parity("mobilenet_v3", 192, Stage::before_final_nms);
}

TEST(FasterRcnnExport, ResNet18FpnMatchesLibTorchAfterNms) {
  expect_parity("resnet18_fpn", 160);
}

TEST(FasterRcnnExport, AnImageWithoutProposalsGivesNoDetections) {
  // No anchor scores over the RPN's threshold: both runtimes answer with empty outputs.
  TempDir dir;
  auto model = untrained_model("mobilenet_v3", 160);
  model->rpn->options.score_thresh = 1.1;
  const auto file = dir / "model.onnx";
  ASSERT_TRUE(vision::onnx_export::write_faster_rcnn_onnx(*model, {file, 160, 160, 17, k_names, "run-e"}));
  auto session = open_session(file);
  const auto image = test_image({120, 150}, 4);
  {
    torch::NoGradGuard no_grad;
    EXPECT_EQ(model->forward({image}).results.at(0).scores.size(0), 0);
  }
  const auto actual = ort_run(session, image);
  EXPECT_EQ(actual.scores.size(0), 0);
  EXPECT_EQ(actual.labels.size(0), 0);
}

TEST(FasterRcnnExport, DetectorRunsTheExportInOriginalPixels) {
  TempDir dir;
  auto model = untrained_model("resnet18_fpn", 224);
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
  EXPECT_EQ(info.metadata.at("variant"), "resnet18_fpn");
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
  const auto& detections = result->detections;
  ASSERT_GE(expected.scores.size(0), k_min_detections);
  const auto count = static_cast<int64_t>(detections.size());
  Result actual{torch::empty({count, 4}), torch::empty({count}, torch::kLong),
                torch::empty({count})};
  for (int64_t i = 0; i < count; ++i) {
    const auto& d = detections[static_cast<size_t>(i)];
    actual.boxes[i] =
        torch::tensor({d.bbox_xyxy[0], d.bbox_xyxy[1], d.bbox_xyxy[2], d.bbox_xyxy[3]});
    actual.labels[i] = d.class_id;
    actual.scores[i] = d.score;
  }
  // The engine's classes are 0-based, as LibTorch's FasterRcnn gives them.
  expect_same_detections(actual, {expected.boxes, expected.classes, expected.scores}, "Detector");
}

TEST(FasterRcnnExport, ExportModelTakesAWeightFileAndSkipsInt8) {
  // export_model tells a weight file from a YOLO checkpoint; the shape data set supplies the
  // parity images. INT8 is asked for and skipped with its reason in the report and manifest.
  TempDir dir;
  const auto& names = vision::k_shape_class_names;
  ASSERT_TRUE(vision::write_shape_dataset(
      {.out_dir = dir / "data", .train_images = 2, .val_images = 2, .size = 160}));
  // Textured images: the shapes' flat backgrounds give equal features, hence equal scores
  // whose order (and so which of two tied boxes NMS keeps) no two runtimes need agree on.
  int seed = 20;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir / "data")) {
    if (entry.path().extension() != ".png" && entry.path().extension() != ".jpg") continue;
    const auto bgr = (test_image({160, 160}, seed++) * 255)
                         .round()
                         .to(torch::kUInt8)
                         .permute({1, 2, 0})
                         .contiguous();
    ASSERT_TRUE(
        cv::imwrite(entry.path().string(), cv::Mat(160, 160, CV_8UC3, bgr.data_ptr<uint8_t>())));
  }
  auto model = untrained_model("mobilenet_v3", 160, names);
  ASSERT_TRUE(frcnn::save_weights(dir / "best.pt", *model, {"mobilenet_v3", names, 160}));
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
  EXPECT_GT(report->parity.detections, 0);
  EXPECT_TRUE(report->evaluated);
  EXPECT_GT(report->fp32.latency_ms, 0);
  const auto manifest = nlohmann::json::parse(vision::test::read_text(report->manifest));
  EXPECT_EQ(manifest.at("format"), "faster-rcnn-boxes-labels-scores-onnx");
  EXPECT_EQ(manifest.at("variant"), "mobilenet_v3");
  EXPECT_EQ(manifest.at("int8_skipped"), report->int8_skipped);
  EXPECT_EQ(vision::to_json(*report).at("int8_skipped"), report->int8_skipped);
}

