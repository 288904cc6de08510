// INT8 quantization: both modes load and run in ONNX Runtime, carry the operators ORT turns into
// integer kernels, keep the head decode in float and the metadata, shrink the file at least
// 3.5×, and on a trained Ultralytics YOLOv8n keep the confident FP32 detections.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include <onnx/onnx_pb.h>
#include <onnxruntime_cxx_api.h>
#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/export/onnx_export.hpp"
#include "vision/export/quantize.hpp"
#include "vision/image/letterbox.hpp"
#include "vision/image/nms.hpp"
#include "vision/infer/detector.hpp"

namespace fs = std::filesystem;
using vision::test::TempDir;

namespace {

const fs::path k_fixture =
    VISION_SOURCE_DIR "/../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";

onnx::ModelProto read_model(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  onnx::ModelProto model;
  EXPECT_TRUE(model.ParseFromIstream(&in)) << file;
  return model;
}

std::map<std::string, int> op_counts(const onnx::ModelProto& model) {
  std::map<std::string, int> counts;
  for (const auto& node : model.graph().node()) ++counts[node.op_type()];
  return counts;
}

std::map<std::string, std::string> metadata(const onnx::ModelProto& model) {
  std::map<std::string, std::string> props;
  for (const auto& prop : model.metadata_props()) props[prop.key()] = prop.value();
  return props;
}

const onnx::TensorProto* initializer(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& tensor : model.graph().initializer()) {
    if (tensor.name() == name) return &tensor;
  }
  return nullptr;
}

std::int64_t default_opset(const onnx::ModelProto& model) {
  for (const auto& import : model.opset_import()) {
    if (import.domain().empty()) return import.version();
  }
  return 0;
}

// The nodes from the first Reshape on: the per-stride flattens and everything they feed.
std::vector<const onnx::NodeProto*> decode_nodes(const onnx::ModelProto& model) {
  std::set<std::string> reached;
  std::vector<const onnx::NodeProto*> nodes;
  for (const auto& node : model.graph().node()) {
    bool in = node.op_type() == "Reshape";
    for (const auto& input : node.input()) in = in || reached.contains(input);
    if (!in) continue;
    nodes.push_back(&node);
    reached.insert(node.output().begin(), node.output().end());
  }
  return nodes;
}

std::vector<fs::path> write_shape_images(const fs::path& dir, std::uint64_t first_seed, int count) {
  fs::create_directories(dir);
  std::vector<fs::path> files;
  for (int i = 0; i < count; ++i) {
    const auto sample =
        vision::make_shape_sample(first_seed + static_cast<std::uint64_t>(i), {.size = 320});
    files.push_back(dir / ("shapes_" + std::to_string(i) + ".png"));
    EXPECT_TRUE(cv::imwrite(files.back().string(), sample.image));
  }
  return files;
}

Ort::Env& ort_env() {
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "quantize-test");
  return env;
}

// Runs `file` on one float input; returns the (first) output and its shape.
std::vector<float> ort_run(const fs::path& file, const std::vector<float>& input,
                           std::vector<std::int64_t> dims, std::vector<std::int64_t>& shape,
                           const char* input_name = "images", const char* output_name = "output0") {
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(2);
  Ort::Session session(ort_env(), file.c_str(), options);
  auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value tensor = Ort::Value::CreateTensor<float>(memory, const_cast<float*>(input.data()),
                                                      input.size(), dims.data(), dims.size());
  const char* in_names[] = {input_name};
  const char* out_names[] = {output_name};
  auto outputs = session.Run(Ort::RunOptions{nullptr}, in_names, &tensor, 1, out_names, 1);
  shape = outputs[0].GetTensorTypeAndShapeInfo().GetShape();
  const float* data = outputs[0].GetTensorData<float>();
  return {data, data + outputs[0].GetTensorTypeAndShapeInfo().GetElementCount()};
}

std::vector<float> letterboxed_batch(const std::vector<fs::path>& files, int height, int width) {
  const size_t plane =
      static_cast<size_t>(3) * static_cast<size_t>(height) * static_cast<size_t>(width);
  std::vector<float> batch(plane * files.size());
  cv::Mat boxed;
  for (size_t i = 0; i < files.size(); ++i) {
    vision::letterbox(cv::imread(files[i].string()),
                      {.target_width = width, .target_height = height}, boxed);
    vision::bgr_to_rgb_chw(boxed, batch.data() + i * plane);
  }
  return batch;
}

void expect_metadata_kept(const onnx::ModelProto& fp32, const onnx::ModelProto& int8,
                          const std::string& mode) {
  auto expected = metadata(fp32);
  expected["quantization"] = mode;
  EXPECT_EQ(metadata(int8), expected);
}

void expect_decode_in_float(const onnx::ModelProto& int8) {
  const auto decode = decode_nodes(int8);
  ASSERT_FALSE(decode.empty());
  std::map<std::string, int> ops;
  for (const auto* node : decode) ++ops[node->op_type()];
  EXPECT_EQ(ops["QuantizeLinear"] + ops["DequantizeLinear"] + ops["DynamicQuantizeLinear"] +
                ops["ConvInteger"],
            0);
  EXPECT_EQ(ops["Softmax"], 1);
  ASSERT_EQ(ops["Conv"], 1);  // the DFL expectation, weights still float
  for (const auto* node : decode) {
    if (node->op_type() != "Conv") continue;
    const auto* weight = initializer(int8, node->input(1));
    ASSERT_NE(weight, nullptr);
    EXPECT_EQ(weight->data_type(), onnx::TensorProto::FLOAT);
  }
}

// The fixture quantized once per mode for the suite.
class QuantizeUltralytics : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_dir = std::make_unique<TempDir>();
    s_calibration = write_shape_images(*s_dir / "calibration", 1000, 8);
    for (const auto mode : {vision::QuantizeMode::static_qdq, vision::QuantizeMode::dynamic}) {
      const bool is_static = mode == vision::QuantizeMode::static_qdq;
      vision::QuantizeOptions options{
          .input = k_fixture,
          .output = *s_dir / (is_static ? "static.onnx" : "dynamic.onnx"),
          .mode = mode,
          .calibration_images = is_static ? s_calibration : std::vector<fs::path>{},
          .threads = 2};
      auto report = vision::quantize_onnx(options);
      ASSERT_TRUE(report) << report.error().message;
      (is_static ? s_static_report : s_dynamic_report) = *report;
    }
  }
  static void TearDownTestSuite() { s_dir.reset(); }

  static fs::path static_model() { return *s_dir / "static.onnx"; }
  static fs::path dynamic_model() { return *s_dir / "dynamic.onnx"; }

  static inline std::unique_ptr<TempDir> s_dir;
  static inline std::vector<fs::path> s_calibration;
  static inline vision::QuantizeReport s_static_report, s_dynamic_report;
};

TEST_F(QuantizeUltralytics, StaticIsQdqWithPerChannelInt8WeightsAndFloatDecode) {
  const auto fp32 = read_model(k_fixture);
  const auto int8 = read_model(static_model());
  auto ops = op_counts(int8);
  EXPECT_GT(ops["QuantizeLinear"], 100);
  EXPECT_GT(ops["DequantizeLinear"], ops["QuantizeLinear"]);  // weights and biases have DQ only
  EXPECT_EQ(ops["Conv"], op_counts(fp32)["Conv"]);
  EXPECT_GE(default_opset(int8), 17);
  expect_metadata_kept(fp32, int8, "static");
  expect_decode_in_float(int8);

  // Every Conv before the decode reads an int8 weight with one scale per output channel and an
  // int32 bias, each through a DequantizeLinear on axis 0.
  std::map<std::string, const onnx::NodeProto*> producer;
  for (const auto& node : int8.graph().node()) {
    for (const auto& output : node.output()) producer[output] = &node;
  }
  int quantized_convs = 0;
  for (const auto& node : int8.graph().node()) {
    if (node.op_type() != "Conv" || initializer(int8, node.input(1)) != nullptr) continue;
    ++quantized_convs;
    for (const int slot : {0, 1, 2})
      ASSERT_EQ(producer.at(node.input(slot))->op_type(), "DequantizeLinear") << node.name();
    const auto& weight_dq = *producer.at(node.input(1));
    const auto* weight = initializer(int8, weight_dq.input(0));
    const auto* scale = initializer(int8, weight_dq.input(1));
    ASSERT_TRUE(weight && scale) << node.name();
    EXPECT_EQ(weight->data_type(), onnx::TensorProto::INT8);
    EXPECT_EQ(scale->dims_size(), 1);
    EXPECT_EQ(scale->dims(0), weight->dims(0));
    ASSERT_EQ(weight_dq.attribute_size(), 1);
    EXPECT_EQ(weight_dq.attribute(0).name(), "axis");
    EXPECT_EQ(weight_dq.attribute(0).i(), 0);
    const auto* bias = initializer(int8, producer.at(node.input(2))->input(0));
    ASSERT_NE(bias, nullptr);
    EXPECT_EQ(bias->data_type(), onnx::TensorProto::INT32);
  }
  EXPECT_EQ(quantized_convs, op_counts(fp32)["Conv"] - 1);

  // The image input is quantized before the first Conv.
  int images_quantized = 0;
  for (const auto& node : int8.graph().node())
    images_quantized += node.op_type() == "QuantizeLinear" && node.input(0) == "images";
  EXPECT_EQ(images_quantized, 1);

  EXPECT_EQ(s_static_report.input_bytes, fs::file_size(k_fixture));
  EXPECT_EQ(s_static_report.output_bytes, fs::file_size(static_model()));
  EXPECT_GE(static_cast<double>(s_static_report.input_bytes) /
                static_cast<double>(s_static_report.output_bytes),
            3.5);
  EXPECT_GT(s_static_report.quantized_nodes, 200);
  EXPECT_GT(s_static_report.float_nodes, 10);
}

TEST_F(QuantizeUltralytics, DynamicUsesConvIntegerWithUint8Weights) {
  const auto fp32 = read_model(k_fixture);
  const auto int8 = read_model(dynamic_model());
  auto ops = op_counts(int8);
  EXPECT_EQ(ops["ConvInteger"], op_counts(fp32)["Conv"] - 1);
  EXPECT_EQ(ops["Conv"], 1);
  EXPECT_GT(ops["DynamicQuantizeLinear"], 40);
  EXPECT_LT(ops["DynamicQuantizeLinear"],
            ops["ConvInteger"]);  // shared by Convs reading one tensor
  EXPECT_EQ(ops["QuantizeLinear"] + ops["DequantizeLinear"], 0);
  for (const auto& node : int8.graph().node()) {
    if (node.op_type() != "ConvInteger") continue;
    const auto* weight = initializer(int8, node.input(1));
    ASSERT_NE(weight, nullptr);
    EXPECT_EQ(weight->data_type(), onnx::TensorProto::UINT8);
  }
  expect_metadata_kept(fp32, int8, "dynamic");
  expect_decode_in_float(int8);
  EXPECT_EQ(s_dynamic_report.quantized_nodes, op_counts(fp32)["Conv"] - 1);
  EXPECT_GE(static_cast<double>(s_dynamic_report.input_bytes) /
                static_cast<double>(s_dynamic_report.output_bytes),
            3.5);
}

// Each confident FP32 detection (score ≥ 0.5) on images the calibration never saw has an INT8
// detection of the same class.
TEST_F(QuantizeUltralytics, Int8DetectionsTrackFp32) {
  auto fp32 = vision::Detector::open({.model_path = k_fixture, .threads = 2});
  ASSERT_TRUE(fp32) << fp32.error().message;
  for (const auto& file : {static_model(), dynamic_model()}) {
    auto int8 = vision::Detector::open({.model_path = file, .threads = 2});
    ASSERT_TRUE(int8) << int8.error().message;
    int confident = 0;
    for (std::uint64_t seed = 2000; seed < 2006; ++seed) {
      const auto sample = vision::make_shape_sample(seed, {.size = 320});
      const auto expected = (*fp32)->detect(sample.image);
      const auto actual = (*int8)->detect(sample.image);
      ASSERT_TRUE(expected && actual);
      for (const auto& want : expected->detections) {
        if (want.score < 0.5F) continue;
        ++confident;
        float best_iou = 0, score = 0;
        for (const auto& got : actual->detections) {
          if (got.class_id != want.class_id) continue;
          const float iou = vision::box_iou(want.bbox_xyxy, got.bbox_xyxy);
          if (iou > best_iou) best_iou = iou, score = got.score;
        }
        EXPECT_GT(best_iou, 0.9F) << file.filename() << " seed " << seed;
        EXPECT_NEAR(score, want.score, 0.1F) << file.filename() << " seed " << seed;
      }
    }
    EXPECT_GE(confident, 6) << "the trained model finds shapes on its own kind of images";
  }
}

// A Vision export has a dynamic batch: both INT8 files run at batch 1 and 4, and the static one
// gives each image the same output whatever the batch.
TEST(Quantize, VisionExportRunsAtBatchOneAndFour) {
  TempDir dir;
  constexpr int k_height = 128, k_width = 160;
  ASSERT_TRUE(vision::export_untrained_yolo(
      {4, 'n', 16},
      {dir / "model.onnx", k_height, k_width, 17, vision::k_shape_class_names, "run-q"}, 5));
  const auto images = write_shape_images(dir.path(), 3000, 4);
  const auto batch = letterboxed_batch(images, k_height, k_width);
  const std::vector<float> first(batch.begin(),
                                 batch.begin() + static_cast<std::ptrdiff_t>(batch.size() / 4));
  const std::int64_t anchors = (16 * 20) + (8 * 10) + (4 * 5);
  std::vector<std::int64_t> shape;
  const auto fp32 = ort_run(dir / "model.onnx", batch, {4, 3, k_height, k_width}, shape);
  for (const auto mode : {vision::QuantizeMode::static_qdq, vision::QuantizeMode::dynamic}) {
    const fs::path output =
        dir / (mode == vision::QuantizeMode::dynamic ? "dynamic.onnx" : "static.onnx");
    auto report = vision::quantize_onnx({.input = dir / "model.onnx",
                                         .output = output,
                                         .mode = mode,
                                         .calibration_images = images,
                                         .threads = 2});
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_GE(static_cast<double>(report->input_bytes) / static_cast<double>(report->output_bytes),
              3.5);
    const auto int8 = read_model(output);
    expect_decode_in_float(int8);
    EXPECT_EQ(metadata(int8).at("run_id"), "run-q");

    const auto at_four = ort_run(output, batch, {4, 3, k_height, k_width}, shape);
    ASSERT_EQ(shape, (std::vector<std::int64_t>{4, 8, anchors}));
    const auto at_one = ort_run(output, first, {1, 3, k_height, k_width}, shape);
    ASSERT_EQ(shape, (std::vector<std::int64_t>{1, 8, anchors}));
    // Boxes (pixels) and class scores of the INT8 model stay near the FP32 ones. The untrained
    // model's deep activations are tiny next to its head biases (Ultralytics' prior of a few
    // objects per image), which a naive int32 bias would overflow into scores of 0.5.
    double box_error = 0, score_error = 0;
    for (std::int64_t image = 0; image < 4; ++image) {
      for (std::int64_t row = 0; row < 8; ++row) {
        for (std::int64_t a = 0; a < anchors; ++a) {
          const auto i = static_cast<size_t>((image * 8 + row) * anchors + a);
          const double error = std::abs(at_four[i] - fp32[i]);
          if (row < 4)
            box_error = std::max(box_error, error);
          else
            score_error = std::max(score_error, error);
        }
      }
    }
    EXPECT_LT(box_error, 2.0) << output.filename();
    EXPECT_LT(score_error, 0.01) << output.filename();
    if (mode == vision::QuantizeMode::static_qdq) {
      for (size_t i = 0; i < at_one.size(); ++i) ASSERT_NEAR(at_one[i], at_four[i], 1e-4) << i;
    }
  }
}

// Activation scales by tensor: the scale of the QuantizeLinear reading each tensor.
std::map<std::string, float> activation_scales(const onnx::ModelProto& model) {
  std::map<std::string, float> scales;
  for (const auto& node : model.graph().node()) {
    if (node.op_type() != "QuantizeLinear") continue;
    const auto* scale = initializer(model, node.input(1));
    float value = 0;
    std::memcpy(&value, scale->raw_data().data(), sizeof(float));
    scales[node.input(0)] = value;
  }
  return scales;
}

// The percentile clips the rare extremes that min-max keeps, so no range is wider and many are
// clearly narrower.
TEST(Quantize, PercentileClipsWhereMinMaxKeepsTheExtremes) {
  TempDir dir;
  const auto images = write_shape_images(dir / "calibration", 4000, 2);
  for (const auto method :
       {vision::CalibrationMethod::min_max, vision::CalibrationMethod::percentile}) {
    const auto name =
        method == vision::CalibrationMethod::min_max ? "min_max.onnx" : "percentile.onnx";
    ASSERT_TRUE(vision::quantize_onnx({.input = k_fixture,
                                       .output = dir / name,
                                       .calibration_images = images,
                                       .method = method,
                                       .percentile = 99.9}));
  }
  const auto min_max = activation_scales(read_model(dir / "min_max.onnx"));
  const auto percentile = activation_scales(read_model(dir / "percentile.onnx"));
  ASSERT_EQ(min_max.size(), percentile.size());
  int narrower = 0;
  for (const auto& [tensor, scale] : min_max) {
    ASSERT_TRUE(percentile.contains(tensor)) << tensor;
    EXPECT_LE(percentile.at(tensor), scale * 1.001F) << tensor;
    narrower += percentile.at(tensor) < 0.8F * scale;
  }
  EXPECT_GT(narrower, static_cast<int>(min_max.size()) / 4);
}

TEST(Quantize, ErrorsNameTheFile) {
  TempDir dir;
  const auto missing = vision::quantize_onnx({.input = dir / "missing.onnx",
                                              .output = dir / "out.onnx",
                                              .mode = vision::QuantizeMode::dynamic});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, vision::ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("missing.onnx"), std::string::npos);

  vision::test::write_text(dir / "notes.onnx", "this is not a model\n");
  const auto text = vision::quantize_onnx({.input = dir / "notes.onnx",
                                           .output = dir / "out.onnx",
                                           .mode = vision::QuantizeMode::dynamic});
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code, vision::ErrorCode::invalid_data);
  EXPECT_NE(text.error().message.find("notes.onnx"), std::string::npos);

  const auto no_images = vision::quantize_onnx({.input = k_fixture, .output = dir / "out.onnx"});
  ASSERT_FALSE(no_images);
  EXPECT_EQ(no_images.error().code, vision::ErrorCode::config);
  EXPECT_NE(no_images.error().message.find("calibration images"), std::string::npos);

  const auto bad_percentile = vision::quantize_onnx({.input = k_fixture,
                                                     .output = dir / "out.onnx",
                                                     .calibration_images = {dir / "notes.onnx"},
                                                     .percentile = 0});
  ASSERT_FALSE(bad_percentile);
  EXPECT_EQ(bad_percentile.error().code, vision::ErrorCode::config);

  const auto bad_image = vision::quantize_onnx({.input = k_fixture,
                                                .output = dir / "out.onnx",
                                                .calibration_images = {dir / "notes.onnx"},
                                                .method = vision::CalibrationMethod::min_max});
  ASSERT_FALSE(bad_image);
  EXPECT_NE(bad_image.error().message.find("notes.onnx"), std::string::npos);
  EXPECT_NE(bad_image.error().message.find("ultralytics-yolov8n-shapes-320.onnx"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "out.onnx"));

  ASSERT_TRUE(vision::quantize_onnx(
      {.input = k_fixture, .output = dir / "int8.onnx", .mode = vision::QuantizeMode::dynamic}));
  const auto again = vision::quantize_onnx({.input = dir / "int8.onnx",
                                            .output = dir / "twice.onnx",
                                            .mode = vision::QuantizeMode::dynamic});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, vision::ErrorCode::invalid_data);
  EXPECT_NE(again.error().message.find("already quantized"), std::string::npos);
}

// x [2, 8] → MatMul(W [8, 4]) → `tail` → y, at `opset`.
void write_matmul_model(const fs::path& file, std::int64_t opset, const std::string& tail) {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.add_opset_import()->set_version(opset);
  auto* graph = model.mutable_graph();
  graph->set_name("matmul");
  const auto add_float_value = [](onnx::ValueInfoProto* value, const std::string& name) {
    value->set_name(name);
    value->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  };
  add_float_value(graph->add_input(), "x");
  add_float_value(graph->add_output(), "y");
  auto* w = graph->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(8);
  w->add_dims(4);
  for (int i = 0; i < 32; ++i) w->add_float_data(std::sin(static_cast<float>(i)));
  auto* matmul = graph->add_node();
  matmul->set_op_type("MatMul");
  matmul->set_name("project");
  matmul->add_input("x");
  matmul->add_input("w");
  matmul->add_output("h");
  auto* last = graph->add_node();
  last->set_op_type(tail);
  last->set_name("finish");
  last->add_input("h");
  last->add_output("y");
  std::ofstream out(file, std::ios::binary);
  ASSERT_TRUE(model.SerializeToOstream(&out));
}

TEST(Quantize, DynamicMatMulBecomesMatMulIntegerAtOpset13) {
  TempDir dir;
  write_matmul_model(dir / "relu.onnx", 12, "Relu");
  auto report = vision::quantize_onnx({.input = dir / "relu.onnx",
                                       .output = dir / "relu-int8.onnx",
                                       .mode = vision::QuantizeMode::dynamic});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->quantized_nodes, 1);
  EXPECT_EQ(report->float_nodes, 1);
  const auto int8 = read_model(dir / "relu-int8.onnx");
  EXPECT_EQ(default_opset(int8), 13);
  EXPECT_EQ(op_counts(int8)["MatMulInteger"], 1);
  EXPECT_EQ(op_counts(int8)["MatMul"], 0);

  std::vector<float> x(16);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 5) * 0.25F - 0.5F;
  std::vector<std::int64_t> shape;
  const auto expected = ort_run(dir / "relu.onnx", x, {2, 8}, shape, "x", "y");
  const auto actual = ort_run(dir / "relu-int8.onnx", x, {2, 8}, shape, "x", "y");
  ASSERT_EQ(actual.size(), expected.size());
  // 8 products, each off by at most half a step of x (1/255) times |w| ≤ 1 plus half a step of w.
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 0.05F) << i;
}

TEST(Quantize, RefusesToRelabelAnOpsetWhoseOperatorsChangedMeaning) {
  TempDir dir;
  write_matmul_model(dir / "softmax.onnx", 12, "Softmax");
  const auto result = vision::quantize_onnx({.input = dir / "softmax.onnx",
                                             .output = dir / "out.onnx",
                                             .mode = vision::QuantizeMode::dynamic});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, vision::ErrorCode::invalid_data);
  EXPECT_NE(result.error().message.find("softmax.onnx"), std::string::npos);
  EXPECT_NE(result.error().message.find("Softmax node 'finish'"), std::string::npos);
}

// images [1, 3, 32, 32] → Conv 3×3 → Reshape [1, 4, 1024] → Reshape back (an attention block's
// reshapes, as in YOLO11's backbone) → Conv 3×3 "features" → Reshape [1, 4, -1] "flat" (the
// per-stride flatten) → Sigmoid → output0.
void write_reshaping_backbone_model(const fs::path& file) {
  onnx::ModelProto model;
  model.set_ir_version(8);
  model.add_opset_import()->set_version(17);
  auto* graph = model.mutable_graph();
  graph->set_name("reshaping_backbone");
  const auto add_value = [](onnx::ValueInfoProto* value, const std::string& name,
                            std::vector<std::int64_t> dims) {
    value->set_name(name);
    value->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    for (const auto d : dims)
      value->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  };
  add_value(graph->add_input(), "images", {1, 3, 32, 32});
  add_value(graph->add_output(), "output0", {1, 4, 1024});
  const auto add_initializer = [&](const std::string& name, std::vector<std::int64_t> dims,
                                   auto values) {
    auto* t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(std::is_same_v<decltype(values), std::vector<float>>
                         ? onnx::TensorProto::FLOAT
                         : onnx::TensorProto::INT64);
    for (const auto d : dims) t->add_dims(d);
    t->set_raw_data(values.data(), values.size() * sizeof(values[0]));
  };
  const auto weights = [](size_t count) {
    std::vector<float> w(count);
    for (size_t i = 0; i < count; ++i) w[i] = 0.3F * std::sin(static_cast<float>(i));
    return w;
  };
  add_initializer("w_a", {4, 3, 3, 3}, weights(108));
  add_initializer("w_b", {4, 4, 3, 3}, weights(144));
  add_initializer("b", {4}, std::vector<float>{0.1F, -0.2F, 0.3F, 0.0F});
  add_initializer("tokens_shape", {3}, std::vector<std::int64_t>{1, 4, 1024});
  add_initializer("map_shape", {4}, std::vector<std::int64_t>{1, 4, 32, 32});
  add_initializer("flat_shape", {3}, std::vector<std::int64_t>{1, 4, -1});
  const auto add_node = [&](const std::string& op, std::vector<std::string> inputs,
                            const std::string& output) {
    auto* node = graph->add_node();
    node->set_op_type(op);
    node->set_name(output);
    for (const auto& input : inputs) node->add_input(input);
    node->add_output(output);
    if (op == "Conv") {
      auto* pads = node->add_attribute();
      pads->set_name("pads");
      pads->set_type(onnx::AttributeProto::INTS);
      for (int i = 0; i < 4; ++i) pads->add_ints(1);
    }
  };
  add_node("Conv", {"images", "w_a", "b"}, "stem");
  add_node("Reshape", {"stem", "tokens_shape"}, "tokens");
  add_node("Reshape", {"tokens", "map_shape"}, "map");
  add_node("Conv", {"map", "w_b", "b"}, "features");
  add_node("Reshape", {"features", "flat_shape"}, "flat");
  add_node("Sigmoid", {"flat"}, "output0");
  std::ofstream out(file, std::ios::binary);
  ASSERT_TRUE(model.SerializeToOstream(&out));
}

// Only a Reshape that no spatial work follows starts the decode: the Conv after the backbone's
// reshapes is quantized, the Sigmoid after the flatten stays in float.
TEST(Quantize, DecodeStartsAtTheReshapeThatNoConvFollows) {
  TempDir dir;
  write_reshaping_backbone_model(dir / "model.onnx");
  const auto images = write_shape_images(dir / "calibration", 5000, 2);
  auto report = vision::quantize_onnx(
      {.input = dir / "model.onnx", .output = dir / "int8.onnx", .calibration_images = images});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->quantized_nodes, 2);  // the Convs
  EXPECT_EQ(report->float_nodes, 4);      // three Reshapes and the Sigmoid
  const auto int8 = read_model(dir / "int8.onnx");
  std::map<std::string, std::string> producer_op;
  for (const auto& node : int8.graph().node()) {
    for (const auto& output : node.output()) producer_op[output] = node.op_type();
  }
  for (const auto& node : int8.graph().node()) {
    if (node.op_type() == "Conv") {
      EXPECT_EQ(producer_op[node.input(0)], "DequantizeLinear") << node.name();
    } else if (node.op_type() == "Sigmoid") {
      EXPECT_EQ(producer_op[node.input(0)], "Reshape");
    } else if (node.op_type() == "QuantizeLinear") {
      EXPECT_NE(node.input(0), "flat");
    }
  }
  std::vector<std::int64_t> shape;
  const auto input = letterboxed_batch({images[0]}, 32, 32);
  const auto expected = ort_run(dir / "model.onnx", input, {1, 3, 32, 32}, shape);
  const auto actual = ort_run(dir / "int8.onnx", input, {1, 3, 32, 32}, shape);
  ASSERT_EQ(actual.size(), expected.size());
  double worst = 0;
  for (size_t i = 0; i < actual.size(); ++i)
    worst = std::max(worst, static_cast<double>(std::abs(actual[i] - expected[i])));
  EXPECT_LT(worst, 0.05);
}

}  // namespace
