// `vision deploy edge --set deploy.edge.mode=llm` end to end: the real binary against a fake
// OpenAI-compatible server and a real statistics service on loopback. Checks the events stored
// per answered frame, annotated frames, the llm counts in the artifacts, a 429 + Retry-After and
// garbage replies that do not stop the run, a video sampled at qps_limit on its own clock (the
// skipped frames counted, the time bounded), an image folder whose every image waits for its
// slot, a run whose every request fails, and the missing-key error before anything is sent.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cstdlib>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "helpers/fake_llm_server.hpp"
#include "helpers/test_support.hpp"
#include "vision/net/free_port.hpp"
#include "vision/net/http_client.hpp"
#include "vision/stats/stats_store.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vision::test::BackgroundProcess;
using vision::test::FakeLlmServer;
using vision::test::k_dog_reply;
using vision::test::ok_reply;
using vision::test::read_json;
using vision::test::TempDir;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* k_key_env = "VISION_TEST_EDGE_LLM_KEY";
constexpr const char* k_key = "sk-edge-integration-5ecret";
const std::string k_two = R"(Here: [{"label":"cat","box_2d":[100,100,500,500]},{"label":"dog","bbox":[1,1,50,50]}])";

class DeployEdgeLlm : public testing::Test {
 protected:
  void SetUp() override { setenv(k_key_env, k_key, 1); }

  void write_images(int count) {
    for (int i = 0; i < count; ++i) {
      const fs::path file = m_dir / "frames" / ("shot" + std::to_string(i) + ".jpg");
      fs::create_directories(file.parent_path());
      cv::imwrite(file.string(), cv::Mat(200, 400, CV_8UC3, cv::Scalar(30 * i, 90, 160)));
    }
  }

  vision::test::ProcessResult edge(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"deploy", "edge", "--workdir", (m_dir / "wd").string(),
                                     "--set", "deploy.edge.mode=llm",
                                     "--set", "class_map.names=[cat,dog]",
                                     "--set", "deploy.edge.images_dir=" + (m_dir / "frames").string(),
                                     "--set", "deploy.edge.fps_limit=0",
                                     "--set", "deploy.edge.source_id=llm-cam",
                                     "--set", "deploy.edge.llm.base_url=" + m_server.base_url(),
                                     "--set", "deploy.edge.llm.model=fake-vlm",
                                     "--set", std::string("deploy.edge.llm.api_key_env=") + k_key_env,
                                     "--set", "deploy.edge.llm.max_retries=1",
                                     "--set", "deploy.edge.llm.retry_backoff_sec=0.05",
                                     "--set", "deploy.edge.llm.timeout_sec=5"};
    args.insert(args.end(), extra.begin(), extra.end());
    return vision::test::run_vision(args);
  }

  json last_run(const std::string& file) { return read_json(vision::test::only_run_dir(m_dir / "wd") / file); }

  TempDir m_dir;
  FakeLlmServer m_server;
};

}  // namespace

TEST_F(DeployEdgeLlm, AnsweredFramesBecomeStoredEventsAndFailuresDoNotStopTheRun) {
  write_images(5);
  // shot0 answered; shot1 429 (Retry-After 1) then answered; shot2 garbage twice: failed;
  // shot3 and shot4 answered by the default.
  m_server.script({{200, vision::test::chat_completion(k_dog_reply, 900, 40), {}, 0.0},
                   {429, "{}", {{"Retry-After", "1"}}, 0.0},
                   ok_reply(k_two),
                   {200, "garbage", {}, 0.0},
                   {200, "<html>502</html>", {}, 0.0}});
  m_server.set_default(ok_reply(k_dog_reply));
  const int api_port = vision::net::free_loopback_port();
  BackgroundProcess stats(VISION_BINARY, {"stats", "serve", "--workdir", (m_dir / "stats").string(), "--api-port",
                                          std::to_string(api_port), "--ui-port",
                                          std::to_string(vision::net::free_loopback_port())});
  vision::net::HttpClient client({"http://127.0.0.1:" + std::to_string(api_port), 5.0, ""});
  ASSERT_TRUE(vision::test::wait_until([&] { return client.get("/health").has_value(); }, 30)) << stats.err();

  const auto start = Clock::now();
  const auto result = edge({"--set", "deploy.edge.llm.qps_limit=0", "--set",
                            "deploy.edge.stats_endpoint=http://127.0.0.1:" + std::to_string(api_port) + "/api/v1/push"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 20.0);
  ASSERT_EQ(stats.stop(SIGTERM), 0) << stats.err();

  const json artifacts = last_run("artifacts.json");
  EXPECT_EQ(artifacts["deploy_mode"], "llm");
  const json& a = artifacts["artifacts"];
  EXPECT_EQ(a["frames"], 4);
  EXPECT_EQ(a["failed_frames"], 1);
  EXPECT_EQ(a["skipped_frames"], 0) << "an image folder's images all wait for their slot";
  EXPECT_EQ(a["detections"], 5);
  EXPECT_EQ(a["detections_per_class"], json({{"cat", 1}, {"dog", 4}}));
  EXPECT_EQ(a["annotated_saved"], 4);
  EXPECT_EQ(a["model"], "fake-vlm");
  EXPECT_EQ(a["stats"]["sent"], 4);
  const json& llm = a["llm"];
  EXPECT_EQ(llm["requests"], 7);
  EXPECT_EQ(llm["retries_by_reason"], json({{"bad_response", 1}, {"http_429", 1}}));
  EXPECT_EQ(llm["answered"], 4);
  EXPECT_EQ(llm["failures_by_reason"], json({{"bad_response", 1}}));
  EXPECT_EQ(llm["tokens"]["total"], 940);
  EXPECT_GE(llm["retry_wait_sec"].get<double>(), 1.0);

  const auto requests = m_server.requests();
  ASSERT_EQ(requests.size(), 7U);
  EXPECT_GE(std::chrono::duration<double>(requests[2].at - requests[1].at).count(), 0.95) << "Retry-After: 1";
  EXPECT_EQ(requests[0].authorization, std::string("Bearer ") + k_key);
  const std::string sent = requests[0].body["messages"][1]["content"][1]["image_url"]["url"];
  EXPECT_EQ(sent.rfind("data:image/jpeg;base64,", 0), 0U);

  const fs::path outputs = m_dir / "wd/outputs" / vision::test::only_run_dir(m_dir / "wd").filename();
  for (const char* name : {"shot0", "shot1", "shot3", "shot4"}) {
    EXPECT_TRUE(fs::exists(outputs / (std::string(name) + "_annotated.jpg"))) << name;
  }
  EXPECT_FALSE(fs::exists(outputs / "shot2_annotated.jpg"));

  auto store = vision::stats::open_store({.storage = "sqlite", .db_path = m_dir / "stats/stats/stats.db"});
  ASSERT_TRUE(store) << store.error().message;
  auto page = (*store)->events({}, 100, std::nullopt);
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->events.size(), 4U);
  std::int64_t cats = 0, dogs = 0;
  for (const auto& event : page->events) {
    EXPECT_EQ(event.source_id, "llm-cam");
    const json counts = json::parse(event.counts_by_class);
    cats += counts.value("cat", 0);
    dogs += counts.value("dog", 0);
  }
  EXPECT_EQ(cats, 1);
  EXPECT_EQ(dogs, 4);

  for (const auto& entry : fs::recursive_directory_iterator(m_dir.path())) {
    if (entry.is_regular_file() && entry.file_size() < (1u << 20)) {
      EXPECT_EQ(vision::test::read_text(entry.path()).find(k_key), std::string::npos) << entry.path();
    }
  }
}

TEST_F(DeployEdgeLlm, AVideoIsSampledAtQpsLimitAndTheRestSkipped) {
  const fs::path clip = m_dir / "clip.avi";
  {
    cv::VideoWriter writer(clip.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(160, 120));
    ASSERT_TRUE(writer.isOpened());
    for (int i = 0; i < 20; ++i) writer.write(cv::Mat(120, 160, CV_8UC3, cv::Scalar::all(10 * i)));
  }
  m_server.set_default(ok_reply(k_dog_reply));
  const auto start = Clock::now();
  // Two seconds of video at 2 requests a second: the frames at 0, 0.5, 1.0 and 1.5 s.
  const auto result = edge({"--source", "video", "--set", "deploy.edge.video_path=" + clip.string(),
                            "--set", "deploy.edge.llm.qps_limit=2", "--set", "deploy.edge.stats_endpoint=",
                            "--set", "deploy.edge.save_annotated=false"});
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_LT(elapsed, 15.0);
  const json a = last_run("artifacts.json")["artifacts"];
  EXPECT_EQ(a["frames"], 4);
  EXPECT_EQ(a["skipped_frames"], 16);
  EXPECT_EQ(a["dropped_frames"], 0);
  EXPECT_EQ(a["llm"]["requests"], 4);
  EXPECT_EQ(m_server.requests().size(), 4U);
  EXPECT_NE(result.err.find("16 frames skipped"), std::string::npos) << result.err;
}

TEST_F(DeployEdgeLlm, AnImageFolderUnderALowQpsLimitWaitsAndSkipsNothing) {
  write_images(4);
  m_server.set_default(ok_reply(k_dog_reply));
  const auto start = Clock::now();
  const auto result = edge({"--set", "deploy.edge.llm.qps_limit=5", "--set", "deploy.edge.stats_endpoint="});
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_GE(elapsed, 0.55) << "three waits of 0.2 s";
  EXPECT_LT(elapsed, 15.0);
  const json a = last_run("artifacts.json")["artifacts"];
  EXPECT_EQ(a["frames"], 4);
  EXPECT_EQ(a["skipped_frames"], 0);
  EXPECT_EQ(a["llm"]["throttled_waits"], 3);
  const std::string events = vision::test::read_text(vision::test::only_run_dir(m_dir / "wd") / "stats.jsonl");
  EXPECT_EQ(std::count(events.begin(), events.end(), '\n'), 4) << "an event per answered frame, kept locally";
}

TEST_F(DeployEdgeLlm, ARunWhoseEveryRequestFailsFails) {
  write_images(3);
  m_server.set_default({401, R"({"error":{"message":"Incorrect API key provided"}})", {}, 0.0});
  const auto result = edge({"--set", "deploy.edge.llm.qps_limit=0", "--set", "deploy.edge.stats_endpoint="});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_EQ(m_server.requests().size(), 3U) << "401 is not retried";
  const json metrics = last_run("metrics.json");
  EXPECT_EQ(metrics["status"], "failed");
  const std::string error = metrics["error"];
  EXPECT_NE(error.find("no frame was answered"), std::string::npos) << error;
  EXPECT_NE(error.find("http_401 3"), std::string::npos) << error;
  EXPECT_NE(result.err.find("Incorrect API key provided"), std::string::npos) << "each frame's error is logged";
  const json a = last_run("artifacts.json")["artifacts"];
  EXPECT_EQ(a["failed_frames"], 3);
  EXPECT_EQ(a["llm"]["failures_by_reason"], json({{"http_401", 3}}));
}

TEST_F(DeployEdgeLlm, AMissingKeyIsAUsageErrorBeforeAnyRequest) {
  write_images(2);
  unsetenv(k_key_env);
  const auto result = edge({"--set", "deploy.edge.stats_endpoint="});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("deploy.edge.llm.api_key_env"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(k_key_env), std::string::npos) << result.err;
  EXPECT_TRUE(m_server.requests().empty());
}
