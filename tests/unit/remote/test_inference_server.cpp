// The remote inference server: route tests call the handlers directly (max_payload_mb's image
// limit among them); the concurrency and body-limit tests go through a real server on an
// ephemeral loopback port.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "helpers/onnx_builder.hpp"
#include "helpers/test_support.hpp"
#include "vision/core/base64.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/net/http_client.hpp"
#include "vision/remote/inference_server.hpp"
#include "vision/remote/payload_limits.hpp"
#include "vision/stats_client/http_stats_transport.hpp"
#include "vision/stats_client/stats_sender.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vision::net::HttpRequest;
using vision::test::TempDir;

namespace {

const fs::path k_model = fs::path(VISION_SOURCE_DIR).parent_path() / "shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";

std::vector<std::uint8_t> jpeg_bytes(std::uint64_t seed = 3) {
  std::vector<std::uint8_t> jpeg;
  cv::imencode(".jpg", vision::make_shape_sample(seed, {320, 2, 5}).image, jpeg);
  return jpeg;
}

std::string jpeg_base64(std::uint64_t seed = 3) { return vision::base64_encode(jpeg_bytes(seed)); }

json frame_body(std::int64_t index = 0, const std::string& name = "frame.jpg", const std::string& image = jpeg_base64()) {
  return {{"schema_version", 1}, {"source_id", "cam-7"}, {"frame_index", index}, {"frame_name", name},
          {"image_jpeg_base64", image}, {"return_annotated", false}};
}

HttpRequest kserve_request(const std::string& image_base64) {
  HttpRequest r;
  r.method = "POST";
  r.path = "/v2/models/ultralytics-yolov8n-shapes-320/infer";
  r.path_params["name"] = "ultralytics-yolov8n-shapes-320";
  r.body = json{{"inputs", {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {1}}, {"data", {image_base64}}}}}}.dump();
  return r;
}

// The max_payload_mb that allows exactly `bytes` of image (a power-of-two division is exact).
double max_payload_mb_for(std::size_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// Sends a POST whose Content-Length announces `content_length` bytes but only `sent` of them,
// and returns the whole answer. The server waits for the rest until its read timeout (5 s):
// then a body the header already put over the limit gets 413, while one within it gets 400,
// cut short.
std::string post_cut_short(int port, std::size_t content_length, std::size_t sent) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  const timeval timeout{.tv_sec = 30, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
    const std::string request = "POST /api/v1/frame HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "Content-Type: application/json\r\nContent-Length: " + std::to_string(content_length) +
                                "\r\n\r\n" + std::string(sent, ' ');
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char buffer[4096];
    for (ssize_t got; (got = recv(fd, buffer, sizeof buffer, 0)) > 0;) answer.append(buffer, static_cast<std::size_t>(got));
  }
  close(fd);
  return answer;
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

TEST(InferenceServer, AnImageOfExactlyMaxPayloadMbPassesOneByteMoreGets413) {
  TempDir dir;
  const auto jpeg = jpeg_bytes();
  const std::string image = vision::base64_encode(jpeg);
  auto at_limit = options(dir);
  at_limit.max_payload_mb = max_payload_mb_for(jpeg.size());
  vision::InferenceServer fits(at_limit, nullptr);
  ASSERT_TRUE(fits.load());
  EXPECT_EQ(fits.frame(post("/api/v1/frame", frame_body(0, "f.jpg", image).dump())).status, 200);
  EXPECT_EQ(fits.kserve_infer(kserve_request(image)).status, 200);

  auto below = options(dir);
  below.max_payload_mb = max_payload_mb_for(jpeg.size() - 1);
  vision::InferenceServer refuses(below, nullptr);
  ASSERT_TRUE(refuses.load());
  const std::string sizes = std::to_string(jpeg.size()) + " bytes, more than the " + std::to_string(jpeg.size() - 1) + " bytes";
  const auto frame = refuses.frame(post("/api/v1/frame", frame_body(0, "f.jpg", image).dump()));
  EXPECT_EQ(frame.status, 413);
  const auto frame_error = json::parse(frame.body);
  EXPECT_EQ(frame_error["ok"], false);
  EXPECT_EQ(frame_error["error"], "payload_too_large");
  EXPECT_NE(frame_error["detail"].get<std::string>().find("image_jpeg_base64: the image is " + sizes), std::string::npos) << frame.body;
  EXPECT_NE(frame_error["detail"].get<std::string>().find("deploy.remote.max_payload_mb"), std::string::npos) << frame.body;
  const auto kserve = refuses.kserve_infer(kserve_request(image));
  EXPECT_EQ(kserve.status, 413);
  const auto kserve_error = json::parse(kserve.body);
  EXPECT_EQ(kserve_error.size(), 1U) << kserve.body;
  EXPECT_NE(kserve_error["error"].get<std::string>().find("inputs[0].data[0]: the image is " + sizes), std::string::npos) << kserve.body;
  EXPECT_EQ(refuses.counts().rejected, 2);
  EXPECT_EQ(refuses.counts().frames_processed, 0);
}

TEST(InferenceServer, TheBodyLimitFollowsTheImageLimitOverRealHttp) {
  TempDir dir;
  const auto jpeg = jpeg_bytes();
  auto o = options(dir);
  o.max_payload_mb = max_payload_mb_for(jpeg.size());
  const auto limits = vision::payload_limits(o.max_payload_mb);
  vision::InferenceServer server(o, nullptr);
  ASSERT_TRUE(server.start());
  vision::net::HttpClient client({"http://127.0.0.1:" + std::to_string(server.port()), 10.0, ""});

  const auto health = client.get("/health");
  ASSERT_TRUE(health) << health.error().message;
  const auto reported = json::parse(health->body);
  EXPECT_EQ(reported["max_image_bytes"], jpeg.size());
  EXPECT_EQ(reported["max_body_bytes"], limits.max_body_bytes);
  for (const char* field : {"ok", "run_id", "model", "workers", "frames_processed", "detections_total", "stats_sent",
                            "stats_pending", "stats_failed", "annotated_saved"}) {
    EXPECT_TRUE(reported.contains(field)) << field;
  }

  // An image of exactly the limit, in a body padded to exactly the body limit, passes.
  std::string body = frame_body(0, "f.jpg", vision::base64_encode(jpeg)).dump();
  ASSERT_LT(body.size(), limits.max_body_bytes);
  body.resize(limits.max_body_bytes, ' ');
  const auto fits = client.post_json("/api/v1/frame", body);
  ASSERT_TRUE(fits) << fits.error().message;
  EXPECT_EQ(fits->status, 200) << fits->body;

  // One byte more of image, the body still far below its limit: the image check answers.
  auto bigger = jpeg;
  bigger.push_back(0);
  const auto too_big_image = client.post_json("/api/v1/frame", frame_body(0, "f.jpg", vision::base64_encode(bigger)).dump());
  ASSERT_TRUE(too_big_image) << too_big_image.error().message;
  EXPECT_EQ(too_big_image->status, 413);
  EXPECT_NE(too_big_image->body.find("max_payload_mb"), std::string::npos) << too_big_image->body;
  EXPECT_EQ(server.counts().rejected, 1);

  // One byte more of body: the body check answers, and the handler never sees it.
  body.push_back(' ');
  const auto too_big_body = client.post_json("/api/v1/frame", body);
  ASSERT_TRUE(too_big_body) << too_big_body.error().message;
  EXPECT_EQ(too_big_body->status, 413);
  EXPECT_EQ(json::parse(too_big_body->body), (json{{"ok", false}, {"error", "payload_too_large"}}));
  EXPECT_EQ(server.counts().rejected, 1);

  // The body check goes by Content-Length alone: with only 1 KiB of the body ever sent, one byte
  // over the limit is still refused as too large, while exactly the limit is awaited and found
  // cut short. (Both wait out the server's read timeout, so they run side by side.)
  auto over = std::async(std::launch::async, post_cut_short, server.port(), limits.max_body_bytes + 1, 1024);
  auto at = std::async(std::launch::async, post_cut_short, server.port(), limits.max_body_bytes, 1024);
  const std::string over_answer = over.get();
  EXPECT_TRUE(over_answer.starts_with("HTTP/1.1 413")) << over_answer;
  EXPECT_TRUE(over_answer.ends_with(R"({"error":"payload_too_large","ok":false})")) << over_answer;
  const std::string at_answer = at.get();
  EXPECT_TRUE(at_answer.starts_with("HTTP/1.1 400")) << at_answer;
  EXPECT_EQ(server.counts().frames_processed, 1);
}

TEST(InferenceServer, UnloadableModelFailsToStart) {
  TempDir dir;
  vision::test::write_text(dir / "bad.onnx", "junk");
  auto o = options(dir);
  o.detector.model_path = dir / "bad.onnx";
  vision::InferenceServer server(o, nullptr);
  EXPECT_FALSE(server.start());
}
