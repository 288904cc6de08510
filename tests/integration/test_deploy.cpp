// `vision deploy edge` and `vision deploy remote` as a user runs them: real binaries, real
// servers on loopback ports, the Ultralytics fixture model.
#include <gtest/gtest.h>

#include <signal.h>

#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/net/free_port.hpp"
#include "vision/net/http_client.hpp"
#include "vision/stats/stats_store.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vision::test::BackgroundProcess;
using vision::test::read_json;
using vision::test::run_vision;
using vision::test::TempDir;
using vision::test::wait_until;

namespace {

const std::string k_model = (fs::path(VISION_SOURCE_DIR).parent_path() / "shared/fixtures/ultralytics-yolov8n-shapes-320.onnx").string();

void write_images(const fs::path& dir, int count) {
  for (int i = 0; i < count; ++i) {
    const fs::path file = dir / (i % 2 ? "north" : "south") / ("shot" + std::to_string(i) + ".jpg");
    fs::create_directories(file.parent_path());
    cv::imwrite(file.string(), vision::make_shape_sample(static_cast<std::uint64_t>(i), {320, 1, 4}).image);
  }
}

void write_video(const fs::path& file, int frames) {
  cv::VideoWriter writer(file.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(640, 480));
  ASSERT_TRUE(writer.isOpened());
  for (int i = 0; i < frames; ++i) {
    cv::Mat frame;
    cv::resize(vision::make_shape_sample(static_cast<std::uint64_t>(100 + i), {480, 1, 4}).image, frame, cv::Size(640, 480));
    writer.write(frame);
  }
}

size_t lines_of(const fs::path& file) {
  const std::string text = vision::test::read_text(file);
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path().lexically_relative(dir).string());
  }
  std::ranges::sort(files);
  return files;
}

// The run folder whose artifacts.json appeared first under <workdir>/runs.
fs::path wait_for_run(const fs::path& workdir) {
  fs::path found;
  wait_until([&] {
    if (!fs::exists(workdir / "runs")) return false;
    for (const auto& entry : fs::directory_iterator(workdir / "runs")) {
      if (fs::exists(entry.path() / "artifacts.json") &&
          read_json(entry.path() / "artifacts.json")["artifacts"].contains("listen_port")) {
        found = entry.path();
        return true;
      }
    }
    return false;
  }, 30);
  return found;
}

}  // namespace

TEST(DeployEdge, LocalOnAnImageFolder) {
  TempDir dir;
  write_images(dir / "frames", 6);
  const auto result = run_vision({"deploy", "edge", "--workdir", (dir / "wd").string(), "--model", k_model,
                                  "--set", "deploy.edge.images_dir=" + (dir / "frames").string(),
                                  "--set", "deploy.edge.fps_limit=0", "--set", "deploy.edge.stats_endpoint="});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const fs::path run = vision::test::only_run_dir(dir / "wd");
  const auto artifacts = read_json(run / "artifacts.json")["artifacts"];
  EXPECT_EQ(artifacts["frames"], 6);
  EXPECT_EQ(artifacts["dropped_frames"], 0);
  EXPECT_EQ(lines_of(run / "stats.jsonl"), 6U);
  EXPECT_EQ(files_under(dir / "wd/outputs" / run.filename()),
            (std::vector<std::string>{"north/shot1_annotated.jpg", "north/shot3_annotated.jpg", "north/shot5_annotated.jpg",
                                      "south/shot0_annotated.jpg", "south/shot2_annotated.jpg", "south/shot4_annotated.jpg"}));
  EXPECT_GT(artifacts["detections"].get<int>(), 0);
  EXPECT_TRUE(artifacts["latency_ms"].contains("p95"));
}

TEST(DeployEdge, LocalOnAVideoWithMaxFrames) {
  TempDir dir;
  write_video(dir / "clip.avi", 12);
  const auto result = run_vision({"deploy", "edge", "--workdir", (dir / "wd").string(), "--model", k_model,
                                  "--source", "video", "--set", "deploy.edge.video_path=" + (dir / "clip.avi").string(),
                                  "--set", "deploy.edge.fps_limit=0", "--max-frames", "8",
                                  "--set", "deploy.edge.stats_endpoint="});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const fs::path run = vision::test::only_run_dir(dir / "wd");
  EXPECT_EQ(read_json(run / "artifacts.json")["artifacts"]["frames"], 8);
  EXPECT_EQ(lines_of(run / "stats.jsonl"), 8U);
  const auto files = files_under(dir / "wd/outputs" / run.filename());
  ASSERT_EQ(files.size(), 8U);
  EXPECT_EQ(files.front(), "000000.jpg");
  EXPECT_EQ(files.back(), "000007.jpg");
}

TEST(DeployEdge, StatsServiceStartedMidRunGetsEveryEventExactlyOnce) {
  TempDir dir;
  write_images(dir / "frames", 30);
  const int api_port = vision::net::free_loopback_port();
  const int ui_port = vision::net::free_loopback_port();
  // 30 frames at 15 fps: about two seconds, the service comes up after the first half second.
  BackgroundProcess edge(VISION_BINARY, {"deploy", "edge", "--workdir", (dir / "wd").string(), "--model", k_model,
                                         "--set", "deploy.edge.images_dir=" + (dir / "frames").string(),
                                         "--set", "deploy.edge.fps_limit=15", "--set", "deploy.edge.save_annotated=false",
                                         "--set", "deploy.edge.stats_endpoint=http://127.0.0.1:" + std::to_string(api_port) + "/api/v1/push"});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  BackgroundProcess stats(VISION_BINARY, {"stats", "serve", "--workdir", (dir / "stats").string(), "--api-port",
                                          std::to_string(api_port), "--ui-port", std::to_string(ui_port), "--set",
                                          "statistics.flush_interval_sec=0.2"});
  ASSERT_TRUE(wait_until([&] { return !edge.running(); }, 60)) << "edge did not finish";
  EXPECT_EQ(edge.stop(SIGTERM), 0) << edge.err();
  const fs::path run = vision::test::only_run_dir(dir / "wd");
  const auto artifacts = read_json(run / "artifacts.json")["artifacts"];
  EXPECT_EQ(artifacts["frames"], 30);
  EXPECT_EQ(artifacts["stats"]["sent"], 30) << artifacts.dump();
  EXPECT_EQ(artifacts["stats"]["pending"], 0);
  vision::net::HttpClient client({"http://127.0.0.1:" + std::to_string(api_port), 5.0, ""});
  int stored = -1;
  wait_until([&] {
    auto overview = client.get("/api/v1/overview");
    if (overview && overview->status == 200) stored = json::parse(overview->body)["events"].get<int>();
    return stored == 30;
  }, 10);
  EXPECT_EQ(stored, 30);
  stats.stop(SIGTERM);
}

TEST(DeployRemote, EdgeStreamsToTheServerWhichShutsDownCleanly) {
  TempDir dir;
  write_images(dir / "frames", 5);
  BackgroundProcess remote(VISION_BINARY, {"deploy", "remote", "--workdir", (dir / "remote").string(), "--model", k_model,
                                           "--port", "0", "--set", "deploy.remote.ingest_api_key=k1",
                                           "--set", "deploy.remote.save_annotated=true", "--set", "deploy.remote.workers=2"});
  const fs::path remote_run = wait_for_run(dir / "remote");
  ASSERT_FALSE(remote_run.empty()) << remote.err();
  const int port = read_json(remote_run / "artifacts.json")["artifacts"]["listen_port"];
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/frame";

  const auto edge = run_vision({"deploy", "edge", "--workdir", (dir / "edge").string(), "--mode", "stream",
                                "--set", "deploy.edge.stream_endpoint=" + endpoint, "--set", "deploy.edge.stream_api_key=k1",
                                "--set", "deploy.edge.images_dir=" + (dir / "frames").string(),
                                "--set", "deploy.edge.fps_limit=0", "--set", "deploy.edge.stats_endpoint="});
  ASSERT_EQ(edge.exit_code, 0) << edge.err;
  const fs::path edge_run = vision::test::only_run_dir(dir / "edge");
  const auto edge_artifacts = read_json(edge_run / "artifacts.json")["artifacts"];
  EXPECT_EQ(edge_artifacts["frames"], 5);
  EXPECT_GT(edge_artifacts["detections"].get<int>(), 0);

  // Without the key the same stream is refused frame by frame.
  const auto refused = run_vision({"deploy", "edge", "--workdir", (dir / "edge2").string(), "--mode", "stream",
                                   "--set", "deploy.edge.stream_endpoint=" + endpoint,
                                   "--set", "deploy.edge.images_dir=" + (dir / "frames").string(),
                                   "--set", "deploy.edge.fps_limit=0", "--set", "deploy.edge.stats_endpoint="});
  EXPECT_EQ(read_json(vision::test::only_run_dir(dir / "edge2") / "artifacts.json")["artifacts"]["failed_frames"], 5);

  vision::net::HttpClient client({"http://127.0.0.1:" + std::to_string(port), 5.0, ""});
  auto health = client.get("/health");
  ASSERT_TRUE(health);
  const auto h = json::parse(health->body);
  EXPECT_EQ(h["frames_processed"], 5);
  EXPECT_EQ(h["annotated_saved"], 5);
  EXPECT_EQ(h["detections_total"], edge_artifacts["detections"]);

  EXPECT_EQ(remote.stop(SIGTERM), 130) << remote.err();
  const auto metrics = read_json(remote_run / "metrics.json");
  EXPECT_EQ(metrics["status"], "interrupted");
  const auto artifacts = read_json(remote_run / "artifacts.json")["artifacts"];
  EXPECT_EQ(artifacts["frames_processed"], 5);
  EXPECT_EQ(artifacts["rejected"], 5);
  EXPECT_EQ(files_under(dir / "remote/outputs" / remote_run.filename()).size(), 5U);
  EXPECT_EQ(lines_of(remote_run / "stats.jsonl"), 5U);
}

// The edge produces events while the service is down and is killed with SIGKILL. The service
// comes up and the edge starts again with the same source_id: every event the first run
// produced (its stats.jsonl) is stored exactly once, before the new run's own.
TEST(DeployEdge, EventsOfAnEdgeKilledWhileTheServiceWasDownArriveExactlyOnce) {
  TempDir dir;
  write_images(dir / "frames", 40);
  const int api_port = vision::net::free_loopback_port();
  const int ui_port = vision::net::free_loopback_port();
  const std::vector<std::string> edge_args = {
      "deploy", "edge", "--workdir", (dir / "wd").string(), "--model", k_model, "--set",
      "deploy.edge.images_dir=" + (dir / "frames").string(), "--set", "deploy.edge.fps_limit=20", "--set",
      "deploy.edge.save_annotated=false", "--set", "deploy.edge.source_id=cam-k9", "--set",
      "deploy.edge.stats_endpoint=http://127.0.0.1:" + std::to_string(api_port) + "/api/v1/push"};
  fs::path first_run;
  {
    BackgroundProcess edge(VISION_BINARY, edge_args);
    ASSERT_TRUE(wait_until([&] {
      if (!fs::exists(dir / "wd/runs")) return false;
      for (const auto& entry : fs::directory_iterator(dir / "wd/runs")) first_run = entry.path();
      return !first_run.empty() && fs::exists(first_run / "stats.jsonl") && lines_of(first_run / "stats.jsonl") >= 10;
    }, 60)) << edge.err();
    edge.stop(SIGKILL);
  }
  std::set<std::string> produced;
  {
    std::istringstream lines(vision::test::read_text(first_run / "stats.jsonl"));
    for (std::string line; std::getline(lines, line);) {
      const auto event = json::parse(line, nullptr, false);
      if (!event.is_discarded()) produced.insert(event["event_id"].get<std::string>());
    }
  }
  ASSERT_GE(produced.size(), 10U);
  ASSERT_LT(produced.size(), 40U) << "the first run was killed before its end";

  BackgroundProcess stats(VISION_BINARY, {"stats", "serve", "--workdir", (dir / "stats").string(), "--api-port",
                                          std::to_string(api_port), "--ui-port", std::to_string(ui_port)});
  vision::net::HttpClient client({"http://127.0.0.1:" + std::to_string(api_port), 5.0, ""});
  ASSERT_TRUE(wait_until([&] { return client.get("/health").has_value(); }, 30)) << stats.err();
  auto again = edge_args;
  again.insert(again.end(), {"--max-frames", "3"});
  const auto second = vision::test::run_vision(again);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("undelivered event(s)"), std::string::npos) << second.err;
  ASSERT_EQ(stats.stop(SIGTERM), 0) << stats.err();

  auto store = vision::stats::open_store({.storage = "sqlite", .db_path = dir / "stats/stats/stats.db"});
  ASSERT_TRUE(store) << store.error().message;
  std::map<std::string, int> stored;
  std::optional<std::int64_t> cursor;
  do {
    auto page = (*store)->events({}, 1000, cursor);
    ASSERT_TRUE(page);
    for (const auto& e : page->events) {
      EXPECT_EQ(e.source_id, "cam-k9");
      ++stored[e.event_id];
    }
    cursor = page->next_cursor;
  } while (cursor);
  for (const auto& id : produced) EXPECT_EQ(stored[id], 1) << id;
  EXPECT_EQ(stored.size(), produced.size() + 3) << "and the second run's three frames";
  for (const auto& [id, copies] : stored) EXPECT_EQ(copies, 1) << id;
}
