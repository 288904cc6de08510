// Edge mode "llm": the LlmProcessor against a fake OpenAI-compatible server on loopback. Which
// frames get a request per source kind (a live source's frames are skipped while the qps bucket
// is empty, a video's are sampled on its own clock, an image folder's all wait), the JPEG sent,
// boxes in frame pixels, failures that carry their reason, and a whole run_edge pass.
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include <nlohmann/json.hpp>

#include "helpers/fake_llm_server.hpp"
#include "vision/core/base64.hpp"
#include "vision/edge/llm_processor.hpp"

using vision::test::FakeLlmServer;
using vision::test::k_dog_reply;
using vision::test::FakeReply;
using vision::test::ok_reply;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* k_key_env = "VISION_TEST_EDGE_LLM_KEY";

vision::LlmProcessorOptions processor_options(const FakeLlmServer& server, double qps, bool live) {
  setenv(k_key_env, "sk-edge-test", 1);
  vision::LlmProcessorOptions o;
  o.client.base_url = server.base_url();
  o.client.model = "edge-vlm";
  o.client.api_key_env = k_key_env;
  o.client.timeout_sec = 5.0;
  o.client.max_retries = 1;
  o.client.retry_backoff_sec = 0.05;
  o.client.qps_limit = qps;
  o.client.jpeg_quality = 70;
  o.client.class_names = {"cat", "dog"};
  o.client.confidence = 0.5F;
  o.live_source = live;
  return o;
}

std::unique_ptr<vision::LlmProcessor> open_processor(const vision::LlmProcessorOptions& options) {
  auto processor = vision::LlmProcessor::open(options);
  if (!processor) throw std::runtime_error(processor.error().message);
  return std::move(*processor);
}

vision::Frame frame(std::int64_t index, std::optional<double> video_time_sec = std::nullopt) {
  return {.index = index, .image = cv::Mat(200, 400, CV_8UC3, cv::Scalar(20, 90, 160)), .video_time_sec = video_time_sec};
}

// Frames as a camera delivers them: `count` of them, one every `period`.
class PacedLiveSource final : public vision::FrameSource {
 public:
  PacedLiveSource(int count, std::chrono::milliseconds period) : m_count(count), m_period(period) {}
  vision::Expected<std::optional<vision::Frame>> next() override {
    if (m_index >= m_count) return std::nullopt;
    std::this_thread::sleep_for(m_period);
    return frame(m_index++);
  }
  bool live() const override { return true; }
  std::string describe() const override { return "paced camera"; }

 private:
  int m_count;
  std::chrono::milliseconds m_period;
  std::int64_t m_index = 0;
};

}  // namespace

TEST(LlmProcessor, SendsTheFrameAsJpegAndReturnsItsBoxes) {
  FakeLlmServer server;
  server.script({ok_reply(k_dog_reply)});
  auto processor = open_processor(processor_options(server, 0, false));
  auto result = processor->process(frame(0));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_FALSE(result->counts_only);
  ASSERT_EQ(result->detections.size(), 1U);
  EXPECT_EQ(result->detections[0].class_name, "dog");
  EXPECT_EQ(result->detections[0].bbox_xyxy, (std::array<float, 4>{40, 20, 120, 100}));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1U);
  const std::string url = requests[0].body["messages"][1]["content"][1]["image_url"]["url"];
  ASSERT_EQ(url.rfind("data:image/jpeg;base64,", 0), 0U);
  const auto jpeg = vision::base64_decode(url.substr(url.find(',') + 1));
  ASSERT_TRUE(jpeg);
  EXPECT_EQ((*jpeg)[0], 0xFF);
  EXPECT_EQ((*jpeg)[1], 0xD8);
  EXPECT_EQ(processor->counts().answered, 1);
}

TEST(LlmProcessor, AFailedRequestIsThatFramesErrorWithItsReason) {
  FakeLlmServer server;
  server.set_default({200, "garbage", {}, 0.0});
  auto processor = open_processor(processor_options(server, 0, false));
  auto result = processor->process(frame(0));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message.rfind("bad_response: ", 0), 0U) << result.error().message;
  const auto counts = processor->counts();
  EXPECT_EQ(counts.failed, 1);
  EXPECT_EQ(counts.failures_by_reason.at("bad_response"), 1);
  EXPECT_EQ(counts.requests, 2) << "one retry";
}

TEST(LlmProcessor, A429WithRetryAfterIsWaitedForThenAnswered) {
  FakeLlmServer server;
  server.script({{429, "{}", {{"Retry-After", "1"}}, 0.0}, ok_reply(k_dog_reply)});
  auto processor = open_processor(processor_options(server, 0, false));
  const auto start = Clock::now();
  auto result = processor->process(frame(0));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->detections.size(), 1U);
  const double waited = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(waited, 0.95);
  EXPECT_LT(waited, 5.0);
  EXPECT_EQ(processor->counts().retries_by_reason.at("http_429"), 1);
}

TEST(LlmProcessor, ALiveSourceSkipsFramesWhileTheBucketIsEmpty) {
  FakeLlmServer server;
  auto processor = open_processor(processor_options(server, 4.0, true));
  EXPECT_TRUE(processor->accepts(frame(0)));
  ASSERT_TRUE(processor->process(frame(0)));
  EXPECT_FALSE(processor->accepts(frame(1)));
  EXPECT_FALSE(processor->accepts(frame(2)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(processor->accepts(frame(3)));
  EXPECT_EQ(server.requests().size(), 1U) << "declining sends nothing";
}

TEST(LlmProcessor, AVideoIsSampledOnItsOwnClock) {
  FakeLlmServer server;
  auto processor = open_processor(processor_options(server, 2.0, false));
  // 10 fps for two seconds, then a jump to 5.03 s (a cut in the file): at 2 qps a frame is due
  // every half second of video, counted again from the frame after the jump.
  std::vector<std::int64_t> accepted;
  std::vector<double> times;
  for (int i = 0; i < 20; ++i) times.push_back(i / 10.0);
  for (double t : {5.03, 5.3, 5.53, 5.6}) times.push_back(t);
  for (size_t i = 0; i < times.size(); ++i) {
    if (processor->accepts(frame(static_cast<std::int64_t>(i), times[i]))) accepted.push_back(static_cast<std::int64_t>(i));
  }
  EXPECT_EQ(accepted, (std::vector<std::int64_t>{0, 5, 10, 15, 20, 22}));
  EXPECT_TRUE(server.requests().empty());
}

TEST(LlmProcessor, AnImageFolderWaitsForEverySlot) {
  FakeLlmServer server;
  auto processor = open_processor(processor_options(server, 5.0, false));
  const auto start = Clock::now();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(processor->accepts(frame(i)));
    ASSERT_TRUE(processor->process(frame(i)));
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(elapsed, 0.55);  // three waits of 0.2 s
  EXPECT_LT(elapsed, 3.0);
  EXPECT_EQ(processor->counts().throttled_waits, 3);
  EXPECT_EQ(server.requests().size(), 4U);
}

TEST(LlmProcessor, ALiveRunNeverWaitsAndCountsWhatItSkipped) {
  FakeLlmServer server;
  server.set_default(ok_reply(k_dog_reply));
  auto processor = open_processor(processor_options(server, 5.0, true));
  PacedLiveSource source(40, std::chrono::milliseconds(20));  // 50 fps for 0.8 s
  const auto start = Clock::now();
  auto report = vision::run_edge(source, *processor, nullptr, {});
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_LT(elapsed, 2.5) << "capture never waited for the API";
  // The first frame, then one per 0.2 s: about five requests in 0.8 s.
  EXPECT_GE(report->frames, 3);
  EXPECT_LE(report->frames, 7);
  EXPECT_EQ(report->frames + report->skipped + report->dropped, 40);
  EXPECT_GE(report->skipped, 25);
  EXPECT_EQ(report->detections, report->frames);
  EXPECT_EQ(report->failed_frames, 0);
  const auto counts = processor->counts();
  EXPECT_EQ(counts.requests, report->frames);
  EXPECT_EQ(counts.throttled_waits, 0) << "a live source's frames never wait for the bucket";
}

TEST(LlmProcessor, OpenFailsWithoutTheApiKey) {
  FakeLlmServer server;
  auto options = processor_options(server, 1.0, true);
  unsetenv(k_key_env);
  auto processor = vision::LlmProcessor::open(options);
  ASSERT_FALSE(processor);
  EXPECT_EQ(processor.error().code, vision::ErrorCode::config);
  EXPECT_TRUE(server.requests().empty());
}
