// Fuzz tests of everything that parses input Vision did not write: StatsEvents, the remote
// server's frame and KServe requests, label lines, dataset.yaml, ONNX metadata and image
// headers. Each runs `iterations` mutated inputs (VISION_FUZZ_ITERATIONS; the slow set runs many
// more) and checks that the parser answers with a value or an error, never a crash, a hang or
// a result that breaks its own rules. The ASan/UBSan build runs them too.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "event_parser.hpp"
#include "fuzz/mutator.hpp"
#include "helpers/test_support.hpp"
#include "vision/core/base64.hpp"
#include "vision/core/contracts.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/image/image_files.hpp"
#include "vision/infer/model_info.hpp"
#include "vision/remote/inference_server.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vision::fuzz::iterations;
using vision::fuzz::Mutator;

namespace {

const std::string k_event =
    R"({"schema_version":1,"source_id":"edge-001","ts_utc":"2025-01-01T12:00:00Z","total_detections":3,"counts_by_class":{"person":2,"car":1},"latency_ms":42.5})";

std::vector<std::uint8_t> jpeg_bytes(std::uint64_t seed) {
  std::vector<std::uint8_t> jpeg;
  cv::imencode(".jpg", vision::make_shape_sample(seed, {.size = 64}).image, jpeg);
  return jpeg;
}

std::string small_jpeg(std::uint64_t seed) {
  const auto jpeg = jpeg_bytes(seed);
  return std::string(jpeg.begin(), jpeg.end());
}

}  // namespace

TEST(Fuzz, StatsEventsParseOrNameTheField) {
  const std::vector<std::string> seeds = {k_event, "[" + k_event + "," + k_event + "]", R"({"events":[)" + k_event + "]}"};
  Mutator mutator(1);
  for (int i = 0, n = iterations(3000); i < n; ++i) {
    const std::string body = mutator.next(seeds);
    for (const bool batch : {false, true}) {
      const auto rows = vision::stats::parse_stats_events(body, batch, "2026-11-30T00:00:00.000000Z");
      if (!rows) {
        ASSERT_FALSE(rows.error().message.empty());
        continue;
      }
      for (const auto& row : *rows) {
        ASSERT_FALSE(vision::check_text("source_id", row.source_id, vision::k_max_source_id_bytes)) << body.substr(0, 200);
        ASSERT_GE(row.total_detections, 0);
        ASSERT_LE(row.total_detections, vision::k_max_count);
      }
    }
  }
}

TEST(Fuzz, LabelLinesParseOrNameFileAndLine) {
  const std::vector<std::string> seeds = {"0 0.5 0.5 0.2 0.2\n1 0.1 0.2 0.05 0.05\n", "3 0.9 0.9 0.1 0.1", "\n\n2 0.5 0.5 1 1\r\n"};
  Mutator mutator(2);
  for (int i = 0, n = iterations(3000); i < n; ++i) {
    const std::string text = mutator.next(seeds);
    for (const auto strictness : {vision::LabelStrictness::lenient, vision::LabelStrictness::strict}) {
      const auto labels = vision::parse_yolo_labels(text, "fuzz.txt", 4, strictness);
      if (!labels) {
        ASSERT_NE(labels.error().message.find("fuzz.txt"), std::string::npos) << labels.error().message;
        continue;
      }
      for (const auto& box : labels->boxes) {
        ASSERT_GE(box.class_id, 0);
        ASSERT_LT(box.class_id, 4);
      }
    }
  }
}

TEST(Fuzz, DatasetYamlLoadsOrNamesTheFile) {
  vision::test::TempDir dir;
  for (const char* split : {"train", "val"}) {
    fs::create_directories(dir / "images" / split);
    cv::imwrite((dir / "images" / split / "a.jpg").string(), vision::make_shape_sample(3, {.size = 64}).image);
    vision::test::write_text(dir / "labels" / split / "a.txt", "0 0.5 0.5 0.2 0.2\n");
  }
  const std::vector<std::string> seeds = {"path: .\ntrain: images/train\nval: images/val\nnames: [a, b]\n",
                                          "train: [images/train]\nval: images/val\nnames:\n  0: a\n  1: b\n",
                                          "train: images/train\nval: images/val\nnames: {0: a, 1: b}\nnc: 2\n"};
  Mutator mutator(3);
  vision::DatasetOptions options;
  options.dir = dir / "dataset.yaml";
  for (int i = 0, n = iterations(3000) / 10; i < n; ++i) {
    vision::test::write_text(dir / "dataset.yaml", mutator.next(seeds));
    const auto dataset = vision::load_yolo_dataset(options);
    if (!dataset) continue;  // any error is fine; a crash or a bad result is not
    ASSERT_LE(dataset->names.size(), static_cast<size_t>(vision::k_max_class_count));
    for (const auto& item : dataset->train) {
      for (const auto& box : item.boxes) ASSERT_LT(box.class_id, static_cast<int>(dataset->names.size()));
    }
  }
}

TEST(Fuzz, OnnxMetadataDescribesOrNamesTheModel) {
  const std::vector<std::string> names = {"{0: 'circle', 1: 'square', 2: 'triangle', 3: 'star'}", R"({"0": "a", "1": "b"})",
                                          R"(["x", "y", "z", "w"])"};
  const std::vector<std::string> sizes = {"[320, 320]", "640", "[256, 320]"};
  Mutator mutator(4);
  for (int i = 0, n = iterations(3000); i < n; ++i) {
    const std::map<std::string, std::string> metadata = {
        {"names", mutator.next(names)}, {"imgsz", mutator.next(sizes)}, {"stride", mutator.next({"32", "16"})}, {"task", "detect"}};
    const std::int64_t dims[] = {-1, 0, 1, 3, 8, 84, 2100, 8400, 1 << 20, INT64_MAX};
    const auto dim = [&] { return dims[mutator.pick(std::size(dims))]; };
    const std::vector<vision::TensorSpec> inputs = {{"images", {dim(), 3, dim(), dim()}}};
    const std::vector<vision::TensorSpec> outputs = {{"output0", {dim(), dim(), dim()}}};
    const auto info = vision::describe_model(inputs, outputs, metadata, "fuzz.onnx");
    if (!info) {
      ASSERT_NE(info.error().message.find("fuzz.onnx"), std::string::npos) << info.error().message;
      continue;
    }
    ASSERT_LE(info->num_classes, vision::k_max_class_count);
    ASSERT_LE(info->names.size(), static_cast<size_t>(vision::k_max_class_count));
    ASSERT_GE(info->stride, 1);
  }
}

TEST(Fuzz, ImageHeadersAreCheckedBeforeDecoding) {
  std::vector<std::uint8_t> png;
  cv::imencode(".png", vision::make_shape_sample(5, {.size = 64}).image, png);
  const std::vector<std::string> seeds = {small_jpeg(1), small_jpeg(2), std::string(png.begin(), png.end())};
  Mutator mutator(5);
  constexpr std::int64_t k_cap = 256 * 256;
  for (int i = 0, n = iterations(3000) / 3; i < n; ++i) {
    const std::string bytes = mutator.next(seeds);
    const std::span<const unsigned char> view(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    (void)vision::encoded_image_size(view);
    const auto image = vision::decode_image(view, "fuzz", {.max_pixels = k_cap, .jpeg_only = (i % 2) == 0});
    if (image) ASSERT_LE(static_cast<std::int64_t>(image->cols) * image->rows, k_cap);
  }
}

// The two routes of the remote server that parse a client's JSON and image, with a real model.
class FuzzRemote : public ::testing::Test {
 protected:
  void SetUp() override {
    vision::InferenceServerOptions o;
    o.workers = 1;
    o.detector.model_path = fs::path(VISION_SOURCE_DIR).parent_path() / "shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";
    o.max_image_pixels = 512 * 512;
    m_server = std::make_unique<vision::InferenceServer>(o, nullptr);
    ASSERT_TRUE(m_server->load());
  }

  static vision::net::HttpRequest post(const std::string& body) {
    vision::net::HttpRequest r;
    r.method = "POST";
    r.body = body;
    r.path_params["name"] = "ultralytics-yolov8n-shapes-320";
    return r;
  }

  static void expect_answer(const vision::net::HttpResponse& response, const std::string& body) {
    ASSERT_TRUE(response.status == 200 || response.status == 400 || response.status == 413 || response.status == 503)
        << response.status << " " << response.body << " for " << body.substr(0, 200);
    ASSERT_TRUE(json::accept(response.body)) << response.body;
  }

  std::unique_ptr<vision::InferenceServer> m_server;
};

TEST_F(FuzzRemote, FrameRequestsAnswerWithJson) {
  const std::string image = vision::base64_encode(jpeg_bytes(7));
  const std::vector<std::string> seeds = {
      json{{"schema_version", 1}, {"source_id", "cam-1"}, {"frame_index", 3}, {"frame_name", "f.jpg"}, {"image_jpeg_base64", image}}.dump(),
      json{{"source_id", "c"}, {"frame_index", 0}, {"image_jpeg_base64", image}, {"return_annotated", true}}.dump()};
  Mutator mutator(6);
  for (int i = 0, n = iterations(3000) / 5; i < n; ++i) {
    const std::string body = mutator.next(seeds);
    expect_answer(m_server->frame(post(body)), body);
  }
}

TEST_F(FuzzRemote, KserveRequestsAnswerWithJson) {
  const std::string image = vision::base64_encode(jpeg_bytes(8));
  const std::vector<std::string> seeds = {
      json{{"id", "r-1"}, {"inputs", {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {1}}, {"data", {image}}}}},
           {"parameters", {{"source_id", "cam-2"}}}}
          .dump()};
  Mutator mutator(7);
  for (int i = 0, n = iterations(3000) / 5; i < n; ++i) {
    const std::string body = mutator.next(seeds);
    expect_answer(m_server->kserve_infer(post(body)), body);
  }
}
