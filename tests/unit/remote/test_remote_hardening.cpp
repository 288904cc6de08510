// The inference server against hostile requests, through a real server on a loopback port:
// each case is refused with the JSON error body, the process keeps serving, and frames the
// server refuses are never decoded (peak memory stays where it was).
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "helpers/test_support.hpp"
#include "vision/core/base64.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/net/http_client.hpp"
#include "vision/remote/inference_server.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vision::test::TempDir;

namespace {

const fs::path k_model = fs::path(VISION_SOURCE_DIR).parent_path() / "shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";

std::vector<std::uint8_t> jpeg_bytes(int width = 320, int height = 320) {
  std::vector<std::uint8_t> jpeg;
  cv::Mat image;
  cv::resize(vision::make_shape_sample(3, {320, 2, 5}).image, image, {width, height});
  cv::imencode(".jpg", image, jpeg);
  return jpeg;
}

// A real 64×64 JPEG whose frame header claims width × height: what a decompression bomb looks
// like to a decoder that trusts the header.
std::vector<std::uint8_t> jpeg_claiming(int width, int height) {
  auto jpeg = jpeg_bytes(64, 64);
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && (jpeg[i + 1] == 0xC0 || jpeg[i + 1] == 0xC2)) {
      jpeg[i + 5] = static_cast<std::uint8_t>(height >> 8), jpeg[i + 6] = static_cast<std::uint8_t>(height);
      jpeg[i + 7] = static_cast<std::uint8_t>(width >> 8), jpeg[i + 8] = static_cast<std::uint8_t>(width);
      return jpeg;
    }
  }
  ADD_FAILURE() << "no SOF marker";
  return jpeg;
}

json frame(const std::vector<std::uint8_t>& image, const std::string& source_id = "cam-1") {
  return {{"source_id", source_id}, {"frame_index", 0}, {"image_jpeg_base64", vision::base64_encode(image)}};
}

// Peak resident memory of this process so far, in MB.
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmHWM:")) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

class RemoteHardening : public ::testing::Test {
 protected:
  void SetUp() override {
    vision::InferenceServerOptions o;
    o.port = 0;
    o.workers = 1;
    o.detector.model_path = k_model;
    o.max_image_pixels = 1920 * 1080;
    o.max_inflight = 2;
    o.run_id = "hardening";
    m_server = std::make_unique<vision::InferenceServer>(o, nullptr);
    ASSERT_TRUE(m_server->start());
    m_client = std::make_unique<vision::net::HttpClient>(
        vision::net::HttpClientOptions{.base_url = "http://127.0.0.1:" + std::to_string(m_server->port()), .timeout_sec = 30});
  }

  vision::net::HttpResponse post(const std::string& path, const std::string& body) const {
    auto response = m_client->post_json(path, body);
    EXPECT_TRUE(response) << response.error().message;
    return response.value_or(vision::net::HttpResponse{});
  }

  // The server still answers a good frame.
  void expect_serving() const {
    const auto ok = post("/api/v1/frame", frame(jpeg_bytes()).dump());
    EXPECT_EQ(ok.status, 200) << ok.body;
  }

  std::unique_ptr<vision::InferenceServer> m_server;
  std::unique_ptr<vision::net::HttpClient> m_client;
};

}  // namespace

TEST_F(RemoteHardening, ADeeplyNestedKserveIdIsRefusedWithoutRecursion) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string body = R"({"id": )" + deep + R"(, "inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["x"]}]})";
  const auto response = post("/v2/models/ultralytics-yolov8n-shapes-320/infer", body);
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(json::parse(response.body)["error"].get<std::string>().find("nested deeper"), std::string::npos) << response.body;
  // An id that is not a short string is refused too; a short one is echoed.
  auto kserve = json::parse(R"({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1]}]})");
  kserve["inputs"][0]["data"] = {vision::base64_encode(jpeg_bytes())};
  for (const json& id : {json::array({1, 2}), json(std::string(300, 'x')), json(42)}) {
    kserve["id"] = id;
    EXPECT_EQ(post("/v2/models/ultralytics-yolov8n-shapes-320/infer", kserve.dump()).status, 400) << id.dump().substr(0, 40);
  }
  kserve["id"] = "request-7";
  const auto echoed = post("/v2/models/ultralytics-yolov8n-shapes-320/infer", kserve.dump());
  ASSERT_EQ(echoed.status, 200) << echoed.body;
  EXPECT_EQ(json::parse(echoed.body)["id"], "request-7");
  const auto nested_frame = post("/api/v1/frame", R"({"source_id": )" + deep + "}");
  EXPECT_EQ(nested_frame.status, 400);
  expect_serving();
}

TEST_F(RemoteHardening, HugeOrForeignImagesAreRefusedBeforeDecoding) {
  const double before = peak_rss_mb();
  // 20000 × 20000 in the header: 1.2 GB once decoded. Refused from the header: 413.
  const auto bomb = post("/api/v1/frame", frame(jpeg_claiming(20000, 20000)).dump());
  EXPECT_EQ(bomb.status, 413) << bomb.body;
  const auto error = json::parse(bomb.body);
  EXPECT_EQ(error["ok"], false);
  EXPECT_NE(error["detail"].get<std::string>().find("20000×20000"), std::string::npos) << bomb.body;
  // A PNG (any format but JPEG) on the JPEG route: 400 naming the field.
  std::vector<std::uint8_t> png;
  cv::imencode(".png", cv::Mat(2000, 2000, CV_8UC3, cv::Scalar::all(0)), png);
  const auto foreign = post("/api/v1/frame", frame(png).dump());
  EXPECT_EQ(foreign.status, 400) << foreign.body;
  EXPECT_NE(foreign.body.find("image_jpeg_base64: not a JPEG"), std::string::npos) << foreign.body;
  // A frame just above the cap (1921 × 1080) is refused too; KServe answers the same way.
  EXPECT_EQ(post("/api/v1/frame", frame(jpeg_claiming(1921, 1080)).dump()).status, 413);
  auto kserve = json::parse(R"({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1]}]})");
  kserve["inputs"][0]["data"] = {vision::base64_encode(jpeg_claiming(20000, 20000))};
  EXPECT_EQ(post("/v2/models/ultralytics-yolov8n-shapes-320/infer", kserve.dump()).status, 413);
  EXPECT_LT(peak_rss_mb() - before, 100.0) << "a refused frame was decoded";
  expect_serving();
}

TEST_F(RemoteHardening, SourceIdsAreBoundedTextLikeStatsEvents) {
  for (const std::string& bad : {std::string(6 << 20, 'a'), std::string(129, 'a'), std::string("cam\0x", 5), std::string("line\nbreak")}) {
    const auto response = post("/api/v1/frame", frame(jpeg_bytes(), bad).dump());
    EXPECT_EQ(response.status, 400) << response.body.substr(0, 200);
    EXPECT_NE(response.body.find("source_id"), std::string::npos) << response.body.substr(0, 200);
  }
  expect_serving();
}

TEST_F(RemoteHardening, MoreFramesThanTheInflightCapGet503WithRetryAfter) {
  const std::string body = frame(jpeg_bytes(1920, 1080)).dump();
  std::atomic<int> ok{0}, busy{0}, other{0};
  std::atomic<bool> retry_after{true};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      vision::net::HttpClient client({.base_url = "http://127.0.0.1:" + std::to_string(m_server->port()), .timeout_sec = 60});
      const auto response = client.post_json("/api/v1/frame", body);
      if (!response) {
        ++other;
      } else if (response->status == 200) {
        ++ok;
      } else if (response->status == 503) {
        ++busy;
        if (response->header("retry-after") != "1") retry_after = false;
      } else {
        ++other;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(other, 0);
  EXPECT_GE(ok, 2);
  EXPECT_GE(busy, 1) << "8 concurrent frames against a cap of 2";
  EXPECT_TRUE(retry_after);
  expect_serving();
}

TEST(RemoteExposure, ANonLoopbackHostNeedsAKeyOrInsecure) {
  vision::InferenceServerOptions o;
  o.host = "0.0.0.0";
  const auto refused = vision::check_exposure(o);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, vision::ErrorCode::config);
  EXPECT_NE(refused.error().message.find("ingest_api_key"), std::string::npos);
  EXPECT_NE(refused.error().message.find("--insecure"), std::string::npos);
  o.ingest_api_key = "k";
  EXPECT_TRUE(vision::check_exposure(o));
  o.ingest_api_key.clear();
  o.insecure = true;
  EXPECT_TRUE(vision::check_exposure(o));
  o.insecure = false;
  o.host = "127.0.0.1";
  EXPECT_TRUE(vision::check_exposure(o));
}
