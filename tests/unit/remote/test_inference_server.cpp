// The remote inference server: route tests call the handlers directly; the concurrency and
// payload-limit tests go through a real server on an ephemeral loopback port.
#include <gtest/gtest.h>

#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "helpers/onnx_builder.hpp"
#include "helpers/test_support.hpp"
#include "vision/core/base64.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/net/http_client.hpp"
#include "vision/remote/inference_server.hpp"
#include "vision/stats_client/http_stats_transport.hpp"
#include "vision/stats_client/stats_sender.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vision::net::HttpRequest;
using vision::test::TempDir;

namespace {

const fs::path k_model = fs::path(VISION_SOURCE_DIR).parent_path() / "shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";

std::string jpeg_base64(std::uint64_t seed = 3) {
  std::vector<std::uint8_t> jpeg;
  cv::imencode(".jpg", vision::make_shape_sample(seed, {320, 2, 5}).image, jpeg);
  return vision::base64_encode(jpeg);
}

json frame_body(std::int64_t index = 0, const std::string& name = "frame.jpg") {
  return {{"schema_version", 1}, {"source_id", "cam-7"}, {"frame_index", index}, {"frame_name", name},
          {"image_jpeg_base64", jpeg_base64()}, {"return_annotated", false}};
}

HttpRequest post(const std::string& path, const std::string& body, const std::string& key = "") {
  HttpRequest r;
  r.method = "POST";
  r.path = path;
  r.body = body;
  if (!key.empty()) r.headers["x-api-key"] = key;
  return r;
}

vision::InferenceServerOptions options(const TempDir& dir, const std::string& key = "") {
  vision::InferenceServerOptions o;
  o.port = 0;
  o.workers = 2;
  o.detector.model_path = k_model;
  o.detector.confidence = 0.25F;
  o.ingest_api_key = key;
  o.outputs_dir = dir / "outputs";
  o.run_id = "test-run";
  return o;
}

}  // namespace

TEST(InferenceServer, FrameRouteAnswersWithDetections) {
  TempDir dir;
  vision::InferenceServer server(options(dir), nullptr);
  ASSERT_TRUE(server.load());
  auto body = frame_body(5);
  body["return_annotated"] = true;
  const auto response = server.frame(post("/api/v1/frame", body.dump()));
  ASSERT_EQ(response.status, 200) << response.body;
  const auto reply = json::parse(response.body);
  EXPECT_EQ(reply["ok"], true);
  EXPECT_EQ(reply["run_id"], "test-run");
  EXPECT_EQ(reply["source_id"], "cam-7");
  EXPECT_EQ(reply["frame_index"], 5);
  EXPECT_GT(reply["total_detections"].get<int>(), 0);
  EXPECT_EQ(reply["detections"].size(), reply["total_detections"].get<size_t>());
  int counted = 0;
  for (const auto& [name, count] : reply["counts_by_class"].items()) counted += count.get<int>();
  EXPECT_EQ(counted, reply["total_detections"].get<int>());
  ASSERT_TRUE(vision::detection_from_json(reply["detections"][0]));
  // SPEC 9: detections:[{class_id, class_name, score, bbox_xyxy}], nothing more.
  std::vector<std::string> keys;
  for (const auto& [key, value] : reply["detections"][0].items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"bbox_xyxy", "class_id", "class_name", "score"}));
  auto annotated = vision::base64_decode(reply["annotated_jpeg_base64"].get<std::string>());
  ASSERT_TRUE(annotated);
  EXPECT_FALSE(cv::imdecode(*annotated, cv::IMREAD_COLOR).empty());
  EXPECT_EQ(server.counts().frames_processed, 1);
}

TEST(InferenceServer, UnauthorizedWithoutTheIngestKey) {
  TempDir dir;
  vision::InferenceServer server(options(dir, "s3cret"), nullptr);
  ASSERT_TRUE(server.load());
  for (const std::string& key : {std::string(), std::string("wrong"), std::string("s3cre")}) {
    const auto response = server.frame(post("/api/v1/frame", frame_body().dump(), key));
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(json::parse(response.body), (json{{"ok", false}, {"error", "unauthorized"}}));
  }
  EXPECT_EQ(server.frame(post("/api/v1/frame", frame_body().dump(), "s3cret")).status, 200);
}

TEST(InferenceServer, ValidationFailuresNameTheField) {
  TempDir dir;
  vision::InferenceServer server(options(dir), nullptr);
  ASSERT_TRUE(server.load());
  struct Case {
    std::function<void(json&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](json& j) { j.erase("source_id"); }, "source_id"},
      {[](json& j) { j["source_id"] = ""; }, "source_id"},
      {[](json& j) { j["frame_index"] = -1; }, "frame_index"},
      {[](json& j) { j["frame_index"] = "7"; }, "frame_index"},
      {[](json& j) { j["schema_version"] = 2; }, "schema_version"},
      {[](json& j) { j["image_jpeg_base64"] = "***"; }, "image_jpeg_base64"},
      {[](json& j) { j["image_jpeg_base64"] = vision::base64_encode(std::vector<std::uint8_t>{1, 2, 3, 4}); }, "image_jpeg_base64: not a JPEG"},
      {[](json& j) { j["return_annotated"] = "yes"; }, "return_annotated"},
  };
  for (const auto& c : cases) {
    json body = frame_body();
    c.mutate(body);
    const auto response = server.frame(post("/api/v1/frame", body.dump()));
    EXPECT_EQ(response.status, 400) << c.field;
    const auto reply = json::parse(response.body);
    EXPECT_EQ(reply["error"], "validation_failed");
    EXPECT_NE(reply["detail"].get<std::string>().find(c.field), std::string::npos) << reply.dump();
  }
  EXPECT_EQ(server.frame(post("/api/v1/frame", "{not json")).status, 400);
  EXPECT_EQ(server.counts().frames_processed, 0);
}

TEST(InferenceServer, FrameNameIsNeverAPath) {
  TempDir dir;
  auto o = options(dir);
  o.save_annotated = true;
  o.outputs_dir = dir / "work/outputs/run";
  vision::InferenceServer server(o, nullptr);
  ASSERT_TRUE(server.load());
  for (const std::string& name : {std::string("../../etc/x"), std::string("/tmp/evil.jpg"), std::string("..")}) {
    ASSERT_EQ(server.frame(post("/api/v1/frame", frame_body(1, name).dump())).status, 200);
  }
  EXPECT_EQ(server.counts().annotated_saved, 3);
  std::vector<std::string> written;
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
    if (entry.is_regular_file()) written.push_back(entry.path().lexically_relative(dir.path()).string());
  }
  std::ranges::sort(written);
  EXPECT_EQ(written, (std::vector<std::string>{"work/outputs/run/000000.jpg", "work/outputs/run/000001.jpg",
                                               "work/outputs/run/000002.jpg"}));
  EXPECT_FALSE(fs::exists("/tmp/evil.jpg"));
}

// An edge streaming with deploy.edge.stream_push_stats = "auto" pushes its own events only when
// the server says it reports none.
TEST(InferenceServer, HealthSaysWhetherTheServerReportsEachFrame) {
  TempDir dir;
  const auto reports_stats = [&](vision::StatsSender* sender) {
    vision::InferenceServer server(options(dir), sender);
    const auto health = json::parse(server.health(HttpRequest{}).body);
    EXPECT_EQ(health["ok"], true);
    EXPECT_TRUE(health.contains("frames_processed"));
    return health["reports_stats"];
  };
  vision::StatsSender pushing({"http://127.0.0.1:7797/api/v1/push", dir / "a.jsonl"}, vision::make_http_stats_transport("", 1.0));
  vision::StatsSender local_only({"", dir / "b.jsonl"}, vision::make_http_stats_transport("", 1.0));
  EXPECT_EQ(reports_stats(&pushing), true);
  EXPECT_EQ(reports_stats(&local_only), false);
  EXPECT_EQ(reports_stats(nullptr), false);
}

TEST(InferenceServer, KserveV2Subset) {
  TempDir dir;
  vision::InferenceServer server(options(dir), nullptr);
  ASSERT_TRUE(server.load());
  HttpRequest get;
  get.path_params["name"] = "ultralytics-yolov8n-shapes-320";
  EXPECT_EQ(server.kserve_live(get).status, 200);
  EXPECT_EQ(server.kserve_ready(get).status, 200);
  const auto model = json::parse(server.kserve_model(get).body);
  EXPECT_EQ(model["platform"], "onnxruntime_onnx");
  EXPECT_EQ(model["inputs"][0]["datatype"], "BYTES");

  HttpRequest infer = post("/v2/models/x/infer", json{{"id", "r1"}, {"inputs", {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {1}}, {"data", {jpeg_base64()}}}}}}.dump());
  infer.path_params["name"] = "ultralytics-yolov8n-shapes-320";
  const auto response = server.kserve_infer(infer);
  ASSERT_EQ(response.status, 200) << response.body;
  const auto reply = json::parse(response.body);
  EXPECT_EQ(reply["id"], "r1");
  const auto& detections = reply["outputs"][0];
  EXPECT_EQ(detections["name"], "detections");
  const auto k = detections["shape"][0].get<size_t>();
  EXPECT_GT(k, 0U);
  EXPECT_EQ(detections["data"].size(), k * 6);
  EXPECT_EQ(json::parse(reply["outputs"][1]["data"][0].get<std::string>()).size(), k);

  HttpRequest unknown = infer;
  unknown.path_params["name"] = "other";
  EXPECT_EQ(server.kserve_infer(unknown).status, 404);
  EXPECT_EQ(server.kserve_model(unknown).status, 404);
  HttpRequest bad = post("/v2/models/x/infer", json{{"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"data", {1.0}}}}}}.dump());
  bad.path_params["name"] = "ultralytics-yolov8n-shapes-320";
  EXPECT_EQ(server.kserve_infer(bad).status, 400);
}

TEST(InferenceServer, FourConcurrentClientsOverRealHttp) {
  TempDir dir;
  vision::InferenceServer server(options(dir), nullptr);
  ASSERT_TRUE(server.start());
  const std::string body = frame_body().dump();
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      vision::net::HttpClient client({"http://127.0.0.1:" + std::to_string(server.port()), 10.0, ""});
      for (int i = 0; i < 5; ++i) {
        auto response = client.post_json("/api/v1/frame", body);
        if (response && response->status == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(server.counts().frames_processed, 20);
  vision::net::HttpClient client({"http://127.0.0.1:" + std::to_string(server.port()), 5.0, ""});
  auto health = client.get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["frames_processed"], 20);
  server.stop();
}

TEST(InferenceServer, OversizedBodiesGet413BeforeBeingRead) {
  TempDir dir;
  auto o = options(dir);
  o.max_payload_mb = 0.01;  // ~10 KB
  vision::InferenceServer server(o, nullptr);
  ASSERT_TRUE(server.start());
  vision::net::HttpClient client({"http://127.0.0.1:" + std::to_string(server.port()), 5.0, ""});
  auto response = client.post_json("/api/v1/frame", frame_body().dump());  // a 320 px JPEG is larger
  ASSERT_TRUE(response) << response.error().message;
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(server.counts().frames_processed, 0);
}

TEST(InferenceServer, UnloadableModelFailsToStart) {
  TempDir dir;
  vision::test::write_text(dir / "bad.onnx", "junk");
  auto o = options(dir);
  o.detector.model_path = dir / "bad.onnx";
  vision::InferenceServer server(o, nullptr);
  EXPECT_FALSE(server.start());
}
