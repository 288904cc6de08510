// LlmClient against a fake OpenAI-compatible server on loopback: the request it sends (contract,
// Bearer key), boxes mapped back to the original pixels, retries on garbage, 500, 429 with
// Retry-After and a reply slower than the timeout, the qps token bucket (and asking it for a free
// slot), failures that are not retried, the missing-key error before any request, and
// Retry-After parsing itself.
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include <opencv2/imgcodecs.hpp>

#include "helpers/fake_llm_server.hpp"
#include "vision/llm/llm_client.hpp"

using namespace vision::llm;
using vision::test::FakeLlmServer;
using vision::test::k_dog_reply;
using vision::test::FakeReply;
using vision::test::ok_reply;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* k_key_env = "VISION_TEST_LLM_KEY";
constexpr const char* k_key = "sk-test-5ecret";

LlmClientOptions client_options(const FakeLlmServer& server) {
  setenv(k_key_env, k_key, 1);
  LlmClientOptions o;
  o.base_url = server.base_url();
  o.model = "test-vlm";
  o.api_key_env = k_key_env;
  o.prompt = "Find the pets.";
  o.timeout_sec = 5.0;
  o.max_retries = 2;
  o.retry_backoff_sec = 0.05;
  o.qps_limit = 0;
  o.class_names = {"cat", "dog"};
  o.confidence = 0.25F;
  return o;
}

// 400×200 pixels, sent as PNG.
cv::Mat picture() { return cv::Mat(200, 400, CV_8UC3, cv::Scalar(10, 120, 200)); }
std::vector<std::uint8_t> png(const cv::Mat& image) {
  std::vector<std::uint8_t> bytes;
  cv::imencode(".png", image, bytes);
  return bytes;
}

std::unique_ptr<LlmClient> open_client(const LlmClientOptions& options) {
  auto client = LlmClient::open(options);
  if (!client) throw std::runtime_error(client.error().message);
  return std::move(*client);
}

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

}  // namespace

TEST(LlmClient, SendsTheContractWithABearerKeyAndReadsTheBoxes) {
  FakeLlmServer server;
  server.script({{200, vision::test::chat_completion(k_dog_reply, 700, 20), {}, 0.0}});
  auto client = open_client(client_options(server));
  const cv::Mat image = picture();
  auto answer = client->detect(image, png(image));
  ASSERT_TRUE(answer) << answer.error().error.message;
  ASSERT_EQ(answer->detections.size(), 1U);
  EXPECT_EQ(answer->detections[0].class_name, "dog");
  EXPECT_EQ(answer->detections[0].bbox_xyxy, (std::array<float, 4>{40, 20, 120, 100}));
  EXPECT_EQ(answer->raw_reply, k_dog_reply);
  EXPECT_EQ(answer->attempts, 1);

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0].authorization, std::string("Bearer ") + k_key);
  EXPECT_EQ(requests[0].body["model"], "test-vlm");
  const std::string system = requests[0].body["messages"][0]["content"];
  EXPECT_EQ(system.rfind("Find the pets.", 0), 0U);
  EXPECT_NE(system.find("\"cat\", \"dog\""), std::string::npos);
  EXPECT_NE(system.find("400x200"), std::string::npos);
  const std::string url = requests[0].body["messages"][1]["content"][1]["image_url"]["url"];
  EXPECT_EQ(url.rfind("data:image/png;base64,", 0), 0U);

  const auto counts = client->counts();
  EXPECT_EQ(counts.requests, 1);
  EXPECT_EQ(counts.answered, 1);
  EXPECT_EQ(counts.retries, 0);
  EXPECT_EQ(counts.replies_with_usage, 1);
  EXPECT_EQ(counts.prompt_tokens, 700);
  EXPECT_EQ(counts.completion_tokens, 20);
  EXPECT_EQ(counts.total_tokens, 720);
}

TEST(LlmClient, EveryReplyFormOverTheWireWithTheLongSideCapped) {
  // Sent at 200×100 (cap 200), so each box in the reply's terms doubles in the original.
  const std::vector<std::pair<nlohmann::json, std::string>> replies = {
      {"Sure!\n```json\n" + k_dog_reply + "\n```", "fenced, pixels"},
      {nlohmann::json::array({{{"type", "text"}, {"text", "[{\"label\":\"dog\",\"bbox\":[20,10,60,50]}]"}}}), "parts, bbox"},
      {"[{\"label\":\"dog\",\"box_2d\":[100,100,500,300]}]", "Gemini box_2d"},
      {"[{\"label\":\"dog\",\"bbox_2d\":[20,10,60,50],\"score\":90}]", "Qwen bbox_2d"},
      {"[{\"class_id\":1,\"x1\":0.1,\"y1\":0.1,\"x2\":0.3,\"y2\":0.5}]", "normalised keys"},
  };
  FakeLlmServer server;
  auto options = client_options(server);
  options.max_image_side = 200;
  auto client = open_client(options);
  const cv::Mat image = picture();
  for (const auto& [content, what] : replies) {
    server.script({ok_reply(content)});
    auto answer = client->detect(image, png(image));
    ASSERT_TRUE(answer) << what << ": " << answer.error().error.message;
    ASSERT_EQ(answer->detections.size(), 1U) << what;
    EXPECT_EQ(answer->sent_width, 200);
    const auto& box = answer->detections[0].bbox_xyxy;
    if (what == "fenced, pixels") {
      EXPECT_EQ(box, (std::array<float, 4>{80, 40, 240, 200})) << what;
    } else {
      EXPECT_EQ(box, (std::array<float, 4>{40, 20, 120, 100})) << what;
    }
  }
  EXPECT_EQ(server.requests().back().body["messages"][1]["content"][1]["image_url"]["url"].get<std::string>().rfind(
                "data:image/jpeg;base64,", 0),
            0U);
}

TEST(LlmClient, GarbageIsRetriedThenTheImageFailsWithItsReason) {
  FakeLlmServer server;
  server.set_default({200, "<html>gateway</html>", {}, 0.0});
  auto client = open_client(client_options(server));
  auto answer = client->detect(picture());
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().reason, "bad_response");
  const auto counts = client->counts();
  EXPECT_EQ(counts.requests, 3);
  EXPECT_EQ(counts.retries, 2);
  EXPECT_EQ(counts.retries_by_reason.at("bad_response"), 2);
  EXPECT_EQ(counts.failures_by_reason.at("bad_response"), 1);
  EXPECT_EQ(counts.failed, 1);

  server.set_default(ok_reply("I see a dog in the middle of the picture."));
  auto prose = client->detect(picture());
  ASSERT_FALSE(prose);
  EXPECT_EQ(prose.error().reason, "no_json");
  EXPECT_NE(prose.error().error.message.find("I see a dog"), std::string::npos) << "the reply is quoted for the log";
}

TEST(LlmClient, AServerErrorThenSuccessIsOneRetry) {
  FakeLlmServer server;
  server.script({{500, R"({"error":{"message":"boom"}})", {}, 0.0}, ok_reply(k_dog_reply)});
  auto client = open_client(client_options(server));
  auto answer = client->detect(picture());
  ASSERT_TRUE(answer) << answer.error().error.message;
  EXPECT_EQ(answer->attempts, 2);
  EXPECT_EQ(answer->detections.size(), 1U);
  const auto counts = client->counts();
  EXPECT_EQ(counts.requests, 2);
  EXPECT_EQ(counts.retries_by_reason.at("http_500"), 1);
  EXPECT_TRUE(counts.failures_by_reason.empty());
}

TEST(LlmClient, A429WaitsForRetryAfter) {
  FakeLlmServer server;
  server.script({{429, R"({"error":{"message":"slow down"}})", {{"Retry-After", "1"}}, 0.0}, ok_reply(k_dog_reply)});
  auto client = open_client(client_options(server));
  ASSERT_TRUE(client->detect(picture()));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2U);
  const double waited = seconds_between(requests[0].at, requests[1].at);
  EXPECT_GE(waited, 0.95) << "Retry-After: 1 wins over the 0.05 s back-off";
  EXPECT_LT(waited, 3.0);
  const auto counts = client->counts();
  EXPECT_EQ(counts.retries_by_reason.at("http_429"), 1);
  EXPECT_NEAR(counts.retry_wait_sec, 1.0, 1e-9);
}

TEST(LlmClient, ARetryAfterBeyondTheCapFailsAtOnce) {
  FakeLlmServer server;
  server.script({{429, "{}", {{"Retry-After", "3600"}}, 0.0}});
  auto client = open_client(client_options(server));
  const auto start = Clock::now();
  auto answer = client->detect(picture());
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().reason, "http_429");
  EXPECT_NE(answer.error().error.message.find("3600"), std::string::npos);
  EXPECT_LT(seconds_between(start, Clock::now()), 2.0);
  EXPECT_EQ(server.requests().size(), 1U);
}

TEST(LlmClient, BackOffDoublesWithJitterWithinBounds) {
  FakeLlmServer server;
  server.script({{503, "{}", {}, 0.0}, {502, "{}", {}, 0.0}, ok_reply(k_dog_reply)});
  auto options = client_options(server);
  options.retry_backoff_sec = 0.2;
  auto client = open_client(options);
  ASSERT_TRUE(client->detect(picture()));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3U);
  const double first = seconds_between(requests[0].at, requests[1].at);
  const double second = seconds_between(requests[1].at, requests[2].at);
  EXPECT_GE(first, 0.2);
  EXPECT_LT(first, 0.2 * 1.25 + 0.5);
  EXPECT_GE(second, 0.4);
  EXPECT_LT(second, 0.4 * 1.25 + 0.5);
  const double waited = client->counts().retry_wait_sec;
  EXPECT_GE(waited, 0.6);
  EXPECT_LE(waited, 0.75);
}

TEST(LlmClient, AReplySlowerThanTheTimeoutIsRetried) {
  FakeLlmServer server;
  server.script({{200, vision::test::chat_completion(k_dog_reply), {}, 1.5}, ok_reply(k_dog_reply)});
  auto options = client_options(server);
  options.timeout_sec = 0.3;
  auto client = open_client(options);
  const auto start = Clock::now();
  auto answer = client->detect(picture());
  ASSERT_TRUE(answer) << answer.error().error.message;
  EXPECT_EQ(answer->attempts, 2);
  EXPECT_LT(seconds_between(start, Clock::now()), 1.4) << "the client gave up on the slow reply";
  EXPECT_EQ(client->counts().retries_by_reason.at("timeout"), 1);
}

TEST(LlmClient, TheTokenBucketSpacesRequests) {
  FakeLlmServer server;
  auto options = client_options(server);
  options.qps_limit = 5.0;
  auto client = open_client(options);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(client->detect(picture()));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4U);
  for (size_t i = 1; i < requests.size(); ++i) {
    const double gap = seconds_between(requests[i - 1].at, requests[i].at);
    EXPECT_GE(gap, 0.18) << i;
    EXPECT_LT(gap, 1.0) << i;
  }
  const auto counts = client->counts();
  EXPECT_EQ(counts.throttled_waits, 3);
  EXPECT_GT(counts.throttled_wait_sec, 0.4);
  EXPECT_LT(counts.throttled_wait_sec, 2.0);
}

TEST(LlmClient, ARequestSlotIsFreeAgainAfterOneBucketPeriod) {
  FakeLlmServer server;
  auto options = client_options(server);
  options.qps_limit = 4.0;
  auto client = open_client(options);
  EXPECT_TRUE(client->request_slot_free());
  EXPECT_TRUE(client->request_slot_free()) << "asking takes nothing";
  ASSERT_TRUE(client->detect(picture()));
  EXPECT_FALSE(client->request_slot_free());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(client->request_slot_free());
  EXPECT_EQ(client->counts().throttled_waits, 0);

  options.qps_limit = 0;
  auto unlimited = open_client(options);
  ASSERT_TRUE(unlimited->detect(picture()));
  EXPECT_TRUE(unlimited->request_slot_free());
}

TEST(LlmClient, AClientErrorIsNotRetried) {
  FakeLlmServer server;
  server.set_default({400, R"({"error":{"message":"model does not support images"}})", {}, 0.0});
  auto client = open_client(client_options(server));
  auto answer = client->detect(picture());
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().reason, "http_400");
  EXPECT_NE(answer.error().error.message.find("model does not support images"), std::string::npos);
  EXPECT_EQ(answer.error().error.message.find(k_key), std::string::npos);
  EXPECT_EQ(server.requests().size(), 1U);
}

TEST(LlmClient, ANetworkErrorIsRetriedAndNamed) {
  std::string dead_url;
  {
    FakeLlmServer gone;
    dead_url = gone.base_url();
  }
  FakeLlmServer server;
  auto options = client_options(server);
  options.base_url = dead_url;
  options.max_retries = 1;
  auto client = open_client(options);
  auto answer = client->detect(picture());
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().reason, "network");
  EXPECT_EQ(client->counts().requests, 2);
}

TEST(LlmClient, AMissingKeyFailsBeforeAnyRequest) {
  FakeLlmServer server;
  auto options = client_options(server);
  for (const char* value : {static_cast<const char*>(nullptr), ""}) {
    if (value) setenv(k_key_env, value, 1);
    else unsetenv(k_key_env);
    auto client = LlmClient::open(options);
    ASSERT_FALSE(client);
    EXPECT_EQ(client.error().code, vision::ErrorCode::config);
    EXPECT_NE(client.error().message.find(k_key_env), std::string::npos) << client.error().message;
    EXPECT_NE(client.error().message.find("llm.api_key_env"), std::string::npos) << client.error().message;
  }
  EXPECT_TRUE(server.requests().empty());
}

TEST(LlmClient, NoKeyEnvSendsNoAuthorization) {
  FakeLlmServer server;
  auto options = client_options(server);
  options.api_key_env = "";
  auto client = open_client(options);
  ASSERT_TRUE(client->detect(picture()));
  EXPECT_EQ(server.requests().at(0).authorization, "");
}

TEST(LlmClient, OpenChecksModelClassesAndUrl) {
  FakeLlmServer server;
  auto no_model = client_options(server);
  no_model.model = "";
  EXPECT_FALSE(LlmClient::open(no_model));
  auto no_classes = client_options(server);
  no_classes.class_names.clear();
  EXPECT_FALSE(LlmClient::open(no_classes));
  auto bad_url = client_options(server);
  bad_url.base_url = "127.0.0.1:8000/v1";
  auto opened = LlmClient::open(bad_url);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message.find("base_url"), std::string::npos);
}

TEST(RetryAfter, ReadsSecondsAndHttpDates) {
  using std::chrono::system_clock;
  const auto now = system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
  EXPECT_EQ(parse_retry_after("120", now), 120.0);
  EXPECT_EQ(parse_retry_after(" 1.5 ", now), 1.5);
  EXPECT_EQ(parse_retry_after("0", now), 0.0);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), 30.0);
  EXPECT_EQ(parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now), 60.0);
  EXPECT_EQ(parse_retry_after("Wed Oct 21 07:28:10 2015", now), 10.0);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), 0.0) << "a date in the past";
  for (const char* bad : {"", "  ", "-1", "soon", "1e999", "Wed, 21 Oct 2015 07:28:30", "12abc", "nan"}) {
    EXPECT_FALSE(parse_retry_after(bad, now)) << bad;
  }
}

TEST(RetryAfter, RetryableStatuses) {
  for (int status : {408, 409, 425, 429, 500, 502, 503, 504, 599}) EXPECT_TRUE(is_retryable_status(status)) << status;
  for (int status : {200, 400, 401, 403, 404, 413, 422, 600}) EXPECT_FALSE(is_retryable_status(status)) << status;
}
