// Starting weights from a real Ultralytics 8.1.0 export (yolov8n, 4 shape classes, 320 px):
// after the import our LibTorch model must compute what ONNX Runtime computes from the file.
#include <gtest/gtest.h>

#include <fstream>

#include <onnx/onnx_pb.h>
#include <onnxruntime_cxx_api.h>
#include <torch/torch.h>

#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/train/onnx_weights.hpp"
#include "vision/train/yolo_layers.hpp"

using vision::YoloModelOptions;
using vision::test::TempDir;
using vision::train::YoloDetector;

namespace {

const std::filesystem::path k_fixture =
    VISION_SOURCE_DIR "/../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";

// A synthetic shapes image as the exporter's input: RGB, [1, 3, 320, 320] in [0, 1].
torch::Tensor shapes_image() {
  const auto sample = vision::make_shape_sample(11, {.size = 320});
  const auto bgr = torch::from_blob(sample.image.data, {320, 320, 3}, torch::kUInt8);
  return bgr.flip({2}).permute({2, 0, 1}).to(torch::kFloat).div(255).unsqueeze(0).contiguous();
}

torch::Tensor ort_run(const std::filesystem::path& file, torch::Tensor images) {
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "import-test");
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(2);
  Ort::Session session(env, file.c_str(), options);
  std::vector<std::int64_t> dims(images.sizes().begin(), images.sizes().end());
  auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value input = Ort::Value::CreateTensor<float>(memory, images.data_ptr<float>(),
                                                     static_cast<size_t>(images.numel()),
                                                     dims.data(), dims.size());
  const char* in_names[] = {"images"};
  const char* out_names[] = {"output0"};
  auto outputs = session.Run(Ort::RunOptions{nullptr}, in_names, &input, 1, out_names, 1);
  const auto shape = outputs[0].GetTensorTypeAndShapeInfo().GetShape();
  return torch::from_blob(const_cast<float*>(outputs[0].GetTensorData<float>()), shape,
                          torch::kFloat)
      .clone();
}

// The seed sets the initialisation, so a layer the import misses differs between two imports.
YoloDetector imported(const YoloModelOptions& options, std::uint64_t seed,
                      const std::filesystem::path& file = k_fixture) {
  torch::manual_seed(seed);
  YoloDetector model(options);
  const auto report = vision::train::import_onnx_weights(*model, file);
  EXPECT_TRUE(report) << report.error().message;
  return model;
}

// Names of the parameters and buffers in which two models differ (in shape or value).
std::vector<std::string> differing_tensors(YoloDetector& a, YoloDetector& b) {
  std::vector<std::string> names;
  const auto compare = [&](const auto& x, const auto& y) {
    for (const auto& item : x) {
      const auto& other = y[item.key()];
      if (!item.value().sizes().equals(other.sizes()) || !torch::equal(item.value(), other))
        names.push_back(item.key());
    }
  };
  compare(a->named_parameters(), b->named_parameters());
  compare(a->named_buffers(), b->named_buffers());
  return names;
}

torch::Tensor class_output_weight(YoloDetector& model, size_t stride) {
  return model->head->cls[stride]
      ->as<torch::nn::Sequential>()
      ->ptr(2)
      ->as<torch::nn::Conv2d>()
      ->weight.detach()
      .clone();
}

}  // namespace

TEST(OnnxWeights, ImportedModelMatchesOnnxRuntimeOnTheExport) {
  torch::manual_seed(5);
  YoloDetector model(YoloModelOptions{4, 'n', 16});
  const auto report = vision::train::import_onnx_weights(*model, k_fixture);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->convs_loaded, 63);
  EXPECT_EQ(report->convs_skipped, 0);
  EXPECT_FALSE(report->head_classes_reset);
  model->eval();

  const auto images = shapes_image();
  torch::Tensor ours;
  {
    torch::NoGradGuard no_grad;
    ours = model->head->decode(model->forward(images));
  }
  const auto ort = ort_run(k_fixture, images);
  ASSERT_EQ(ort.sizes(), (std::vector<std::int64_t>{1, 8, 2100}));
  ASSERT_EQ(ours.sizes(), ort.sizes());
  const double box_diff = (ours.slice(1, 0, 4) - ort.slice(1, 0, 4)).abs().max().item<double>();
  const double score_diff = (ours.slice(1, 4, 8) - ort.slice(1, 4, 8)).abs().max().item<double>();
  std::printf("max |LibTorch - ONNX Runtime|: boxes %.3g px, scores %.3g\n", box_diff, score_diff);
  EXPECT_LE(box_diff, 1e-3);
  EXPECT_LE(score_diff, 1e-4);
  // Trained weights, not a near-untouched initialisation (whose class prior is about 1e-3): some
  // shape clears the detector's default confidence of 0.25.
  EXPECT_GT(ours.slice(1, 4, 8).max().item<double>(), 0.25);
}

TEST(OnnxWeights, WeightsInConstantNodesAndFloatDataLoadLikeInitializers) {
  // The same file with every initializer turned into a Constant node, its floats moved from
  // raw_data into float_data.
  onnx::ModelProto proto;
  {
    std::ifstream in(k_fixture, std::ios::binary);
    ASSERT_TRUE(proto.ParseFromIstream(&in));
  }
  auto* graph = proto.mutable_graph();
  onnx::GraphProto constants;
  for (const auto& t : graph->initializer()) {
    auto* node = constants.add_node();
    node->set_op_type("Constant");
    node->set_name("const_" + t.name());
    node->add_output(t.name());
    auto* attr = node->add_attribute();
    attr->set_name("value");
    attr->set_type(onnx::AttributeProto::TENSOR);
    auto* value = attr->mutable_t();
    value->CopyFrom(t);
    value->clear_name();  // as in real Constant nodes: the graph name is the output's
    if (t.data_type() == onnx::TensorProto::FLOAT) {
      value->clear_raw_data();
      const auto* floats = reinterpret_cast<const float*>(t.raw_data().data());
      value->mutable_float_data()->Add(floats, floats + t.raw_data().size() / sizeof(float));
    }
  }
  for (const auto& node : graph->node()) *constants.add_node() = node;
  graph->mutable_initializer()->Clear();
  *graph->mutable_node() = constants.node();
  TempDir dir;
  {
    std::ofstream out(dir / "constants.onnx", std::ios::binary);
    ASSERT_TRUE(proto.SerializeToOstream(&out));
  }

  auto from_initializers = imported({4, 'n', 16}, 1);
  auto from_constants = imported({4, 'n', 16}, 2, dir / "constants.onnx");
  EXPECT_EQ(differing_tensors(from_initializers, from_constants), std::vector<std::string>{});
}

TEST(OnnxWeights, OtherClassCountKeepsOnlyTheClassOutputsInitialised) {
  torch::manual_seed(5);
  YoloDetector seven(YoloModelOptions{7, 'n', 16});
  std::vector<torch::Tensor> initial;
  for (size_t i = 0; i < 3; ++i) initial.push_back(class_output_weight(seven, i));
  const auto report = vision::train::import_onnx_weights(*seven, k_fixture);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->convs_loaded, 60);
  EXPECT_EQ(report->convs_skipped, 3);
  EXPECT_TRUE(report->head_classes_reset);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::equal(class_output_weight(seven, i), initial[i])) << "stride " << i;

  // Every other tensor came from the file: it equals the 4-class import's.
  auto four = imported({4, 'n', 16}, 6);
  EXPECT_EQ(differing_tensors(four, seven),
            (std::vector<std::string>{"model_22.cv3.0.2.weight", "model_22.cv3.0.2.bias",
                                      "model_22.cv3.1.2.weight", "model_22.cv3.1.2.bias",
                                      "model_22.cv3.2.2.weight", "model_22.cv3.2.2.bias"}));
}

TEST(OnnxWeights, OtherScaleIsAnErrorNamingInitializerAndShapes) {
  torch::manual_seed(5);
  YoloDetector small(YoloModelOptions{4, 's', 16});
  const auto before = small->b0->conv->weight.detach().clone();
  const auto report = vision::train::import_onnx_weights(*small, k_fixture);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, vision::ErrorCode::config);
  const auto& message = report.error().message;
  EXPECT_NE(message.find(k_fixture.string()), std::string::npos) << message;
  EXPECT_NE(message.find("'model.0.conv.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("[16, 3, 3, 3]"), std::string::npos) << message;
  EXPECT_NE(message.find("[32, 3, 3, 3]"), std::string::npos) << message;
  EXPECT_TRUE(torch::equal(small->b0->conv->weight, before));  // nothing loaded
}

TEST(OnnxWeights, OtherDepthIsAnErrorCountingTheLayers) {
  YoloDetector medium(YoloModelOptions{4, 'm', 16});
  const auto report = vision::train::import_onnx_weights(*medium, k_fixture);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, vision::ErrorCode::config);
  EXPECT_NE(report.error().message.find("has 63 Conv layers"), std::string::npos)
      << report.error().message;
}

TEST(OnnxWeights, NonOnnxOrMissingFileIsAnErrorNamingIt) {
  TempDir dir;
  vision::test::write_text(dir / "weights.onnx", "not a model\n");
  YoloDetector model(YoloModelOptions{4, 'n', 16});
  const auto bad = vision::train::import_onnx_weights(*model, dir / "weights.onnx");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, vision::ErrorCode::invalid_data);
  EXPECT_NE(bad.error().message.find((dir / "weights.onnx").string()), std::string::npos)
      << bad.error().message;

  const auto missing = vision::train::import_onnx_weights(*model, dir / "absent.onnx");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, vision::ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("absent.onnx"), std::string::npos)
      << missing.error().message;
}
