// Every streamed frame counted once: a Vision edge in stream mode against a Vision remote (each
// deploy.edge.stream_push_stats setting × a remote that reports or does not) and against a
// stand-in for the Python original's server, with real statistics services and their stores.
#include <gtest/gtest.h>

#include <signal.h>

#include <opencv2/imgcodecs.hpp>

#include "helpers/original_remote.hpp"
#include "helpers/test_support.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/net/free_port.hpp"
#include "vision/net/http_client.hpp"
#include "vision/stats/stats_store.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using vision::test::BackgroundProcess;
using vision::test::read_json;
using vision::test::TempDir;
using vision::test::wait_until;

namespace {

const std::string k_model = (fs::path(VISION_SOURCE_DIR).parent_path() / "shared/fixtures/ultralytics-yolov8n-shapes-320.onnx").string();
constexpr int k_frames = 4;

std::string loopback(int port) { return "http://127.0.0.1:" + std::to_string(port); }

bool answers_health(int port) {
  vision::net::HttpClient client({loopback(port), 1.0, ""});
  auto health = client.get("/health");
  return health && health->status == 200;
}

// `vision stats serve` on free ports; its SQLite store is read once it has stopped.
class StatsService {
 public:
  explicit StatsService(fs::path workdir)
      : m_workdir(std::move(workdir)),
        m_api_port(vision::net::free_loopback_port()),
        m_process(VISION_BINARY, {"stats", "serve", "--workdir", m_workdir.string(), "--api-port", std::to_string(m_api_port),
                                  "--ui-port", std::to_string(vision::net::free_loopback_port())}) {
    EXPECT_TRUE(wait_until([&] { return answers_health(m_api_port); }, 30)) << m_process.err();
  }
  std::string push_endpoint() const { return loopback(m_api_port) + "/api/v1/push"; }
  // Stops the service and counts the events its store holds.
  std::int64_t stop_and_count() {
    EXPECT_EQ(m_process.stop(SIGTERM), 0) << m_process.err();
    auto store = open();
    auto count = store ? store->count() : vision::Expected<std::int64_t>(-1);
    EXPECT_TRUE(count);
    return count ? *count : -1;
  }
  // After stop_and_count: detections per class in the store.
  std::map<std::string, std::int64_t> class_totals() const {
    std::map<std::string, std::int64_t> totals;
    auto store = open();
    auto classes = store ? store->class_totals({}) : std::vector<vision::stats::ClassTotal>{};
    EXPECT_TRUE(classes);
    if (classes) {
      for (const auto& c : *classes) totals[c.class_name] = c.detections;
    }
    return totals;
  }

 private:
  std::unique_ptr<vision::stats::StatsStore> open() const {
    auto store = vision::stats::open_store({.storage = "sqlite", .db_path = m_workdir / "stats/stats.db"});
    EXPECT_TRUE(store) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }

  fs::path m_workdir;
  int m_api_port;
  BackgroundProcess m_process;
};

// `vision deploy remote` with the fixture model; `stats_endpoint` "" reports nothing.
class VisionRemote {
 public:
  VisionRemote(const fs::path& workdir, const std::string& stats_endpoint)
      : m_port(vision::net::free_loopback_port()),
        m_process(VISION_BINARY, {"deploy", "remote", "--workdir", workdir.string(), "--model", k_model, "--port",
                                  std::to_string(m_port), "--set", "deploy.remote.workers=1", "--set",
                                  "deploy.remote.stats_endpoint=" + stats_endpoint}) {
    EXPECT_TRUE(wait_until([&] { return answers_health(m_port); }, 60)) << m_process.err();
  }
  std::string frame_endpoint() const { return loopback(m_port) + "/api/v1/frame"; }
  // SIGTERM: the server delivers what it has queued, then ends the run (exit 130).
  void stop() { EXPECT_EQ(m_process.stop(SIGTERM), 130) << m_process.err(); }

 private:
  int m_port;
  BackgroundProcess m_process;
};

void write_frames(const fs::path& dir) {
  fs::create_directories(dir);
  for (int i = 0; i < k_frames; ++i) {
    cv::imwrite((dir / ("frame" + std::to_string(i) + ".jpg")).string(),
                vision::make_shape_sample(static_cast<std::uint64_t>(i), {320, 1, 4}).image);
  }
}

// `vision deploy edge --mode stream` over the frames, reporting to `stats_endpoint`; the
// setting is left at its default when `push_stats` is empty. Returns the run's artifacts.
json stream_edge(const TempDir& dir, const std::string& frame_endpoint, const std::string& stats_endpoint,
                 const std::string& push_stats) {
  write_frames(dir / "frames");
  std::vector<std::string> args = {"deploy", "edge", "--workdir", (dir / "edge").string(), "--mode", "stream",
                                   "--set", "deploy.edge.stream_endpoint=" + frame_endpoint,
                                   "--set", "deploy.edge.images_dir=" + (dir / "frames").string(),
                                   "--set", "deploy.edge.fps_limit=0", "--set", "deploy.edge.stats_endpoint=" + stats_endpoint};
  if (!push_stats.empty()) args.insert(args.end(), {"--set", "deploy.edge.stream_push_stats=" + push_stats});
  const auto edge = vision::test::run_vision(args);
  EXPECT_EQ(edge.exit_code, 0) << edge.err;
  const fs::path run = vision::test::only_run_dir(dir / "edge");
  const std::string jsonl = vision::test::read_text(run / "stats.jsonl");
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), k_frames) << "the edge keeps every frame's event in stats.jsonl";
  return read_json(run / "artifacts.json")["artifacts"];
}

struct Combination {
  std::string name;
  std::string push_stats;      // deploy.edge.stream_push_stats; "" = the default (auto)
  bool remote_reports;         // deploy.remote.stats_endpoint set
  bool edge_pushes;            // what the edge decides
  // With "always" and a reporting remote, each reports to a service of its own (the setup the
  // setting is for); otherwise both share one.
  bool own_services;
  std::int64_t events_per_frame;  // in the (edge's) store: 0 only when nobody is told to report
};

void PrintTo(const Combination& c, std::ostream* os) { *os << c.name; }

class StreamStats : public testing::TestWithParam<Combination> {};

}  // namespace

TEST_P(StreamStats, EachFrameIsCountedOnceByWhoeverReportsIt) {
  const Combination& c = GetParam();
  TempDir dir;
  StatsService edge_service(dir / "stats");
  std::optional<StatsService> remote_service;
  if (c.own_services) remote_service.emplace(dir / "remote-stats");
  const std::string remote_stats =
      !c.remote_reports ? "" : (remote_service ? remote_service->push_endpoint() : edge_service.push_endpoint());
  VisionRemote remote(dir / "remote", remote_stats);

  const auto artifacts = stream_edge(dir, remote.frame_endpoint(), edge_service.push_endpoint(), c.push_stats);
  remote.stop();
  EXPECT_EQ(artifacts["frames"], k_frames);
  EXPECT_EQ(artifacts["frames_without_boxes"], 0);
  EXPECT_EQ(artifacts["stream_push_stats"]["setting"], c.push_stats.empty() ? "auto" : c.push_stats);
  EXPECT_EQ(artifacts["stream_push_stats"]["edge_pushes"], c.edge_pushes) << artifacts["stream_push_stats"].dump();
  EXPECT_EQ(artifacts["stats"]["sent"], c.edge_pushes ? k_frames : 0) << artifacts["stats"].dump();
  EXPECT_EQ(edge_service.stop_and_count(), c.events_per_frame * k_frames);
  if (remote_service) {
    EXPECT_EQ(remote_service->stop_and_count(), k_frames);
  }
}

INSTANTIATE_TEST_SUITE_P(
    EdgeSettingTimesRemote, StreamStats,
    testing::Values(Combination{"DefaultAutoRemoteReports", "", true, false, false, 1},
                    Combination{"AutoRemoteDoesNotReport", "auto", false, true, false, 1},
                    Combination{"AlwaysRemoteReportsToItsOwnService", "always", true, true, true, 1},
                    Combination{"AlwaysRemoteDoesNotReport", "always", false, true, false, 1},
                    Combination{"NeverRemoteReports", "never", true, false, false, 1},
                    Combination{"NeverRemoteDoesNotReportSoOnlyStatsJsonlHasThem", "never", false, false, false, 0}),
    [](const testing::TestParamInfo<Combination>& row) { return row.param.name; });

// The Python original's server answers counts without boxes and reports each frame itself;
// its /health says nothing of reports_stats. With both endpoints set and the default config the
// store still holds one event per frame, and the edge's run has the counts.
TEST(MixedFleet, AVisionEdgeStreamingToTheOriginalServerCountsEachFrameOnce) {
  TempDir dir;
  StatsService service(dir / "stats");
  vision::test::OriginalRemote original({.stats_endpoint = service.push_endpoint()});
  const auto artifacts = stream_edge(dir, original.frame_endpoint(), service.push_endpoint(), "");
  EXPECT_EQ(original.frames(), k_frames);
  EXPECT_EQ(original.stats_pushed(), k_frames);
  EXPECT_EQ(artifacts["frames"], k_frames);
  EXPECT_EQ(artifacts["failed_frames"], 0);
  EXPECT_EQ(artifacts["frames_without_boxes"], k_frames);
  EXPECT_EQ(artifacts["detections"], 3 * k_frames);
  EXPECT_EQ(artifacts["detections_per_class"], (json{{"circle", 2 * k_frames}, {"square", k_frames}}));
  EXPECT_EQ(artifacts["annotated_saved"], k_frames) << "annotated with a note instead of boxes";
  EXPECT_EQ(artifacts["stream_push_stats"]["edge_pushes"], false);
  EXPECT_NE(artifacts["stream_push_stats"]["reason"].get<std::string>().find("no reports_stats"), std::string::npos)
      << artifacts["stream_push_stats"].dump();
  EXPECT_EQ(artifacts["stats"]["sent"], 0);
  EXPECT_EQ(service.stop_and_count(), k_frames);
  EXPECT_EQ(service.class_totals(), (std::map<std::string, std::int64_t>{{"circle", 2 * k_frames}, {"square", k_frames}}));
}
