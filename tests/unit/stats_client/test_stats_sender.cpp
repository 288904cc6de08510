// The stats sender against a real HTTP server on loopback that records what it receives.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "helpers/test_support.hpp"
#include "vision/stats_client/http_stats_transport.hpp"
#include "vision/stats_client/stats_sender.hpp"
#include "vision/net/free_port.hpp"
#include "vision/net/http_server.hpp"

using vision::test::TempDir;

namespace {

// A minimal statistics endpoint: counts events per source_id, optionally without the batch
// route, optionally rejecting events whose source_id is "bad".
class Recorder {
 public:
  Recorder(int port, bool batch) {
    vision::net::HttpRouter router;
    router.add_route("POST", "/api/v1/push", [this](const vision::net::HttpRequest& r) { return take(nlohmann::json::array({nlohmann::json::parse(r.body)})); });
    if (batch) {
      router.add_route("POST", "/api/v1/push/batch", [this](const vision::net::HttpRequest& r) { return take(nlohmann::json::parse(r.body)); });
    }
    vision::net::HttpServerOptions options;
    options.port = port;
    m_server = std::make_unique<vision::net::HttpServer>(options, router);
  }
  bool start() { return m_server->start().has_value(); }
  int port() const { return m_server->port(); }
  int events() {
    std::lock_guard lock(m_mutex);
    return m_events;
  }
  int posts() {
    std::lock_guard lock(m_mutex);
    return m_posts;
  }
  // How often each event_id arrived.
  std::map<std::string, int> ids() {
    std::lock_guard lock(m_mutex);
    return m_ids;
  }

 private:
  vision::net::HttpResponse take(const nlohmann::json& events) {
    std::lock_guard lock(m_mutex);
    ++m_posts;
    for (const auto& e : events) {
      if (e["source_id"] == "bad") return vision::net::HttpResponse::error(400, "validation_failed");
    }
    m_events += static_cast<int>(events.size());
    for (const auto& e : events) ++m_ids[e.value("event_id", std::string())];
    return vision::net::HttpResponse::json(200, {{"ok", true}});
  }
  std::unique_ptr<vision::net::HttpServer> m_server;
  std::mutex m_mutex;
  int m_events = 0;
  int m_posts = 0;
  std::map<std::string, int> m_ids;
};

vision::StatsEvent event(const std::string& source = "edge-1") {
  return vision::make_stats_event(source, {{0, "car", 0.9F, {0, 0, 1, 1}}}, 5.0);
}

bool wait_for(const std::function<bool()>& done, int ms = 5000) {
  for (int waited = 0; waited < ms; waited += 10) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace

TEST(StatsSender, DeliversInBatchesAndKeepsAJsonlCopy) {
  Recorder recorder(0, true);
  ASSERT_TRUE(recorder.start());
  TempDir dir;
  vision::StatsSender sender({"http://127.0.0.1:" + std::to_string(recorder.port()) + "/api/v1/push", dir / "stats.jsonl"},
                             vision::make_http_stats_transport("", 2.0));
  ASSERT_TRUE(sender.start());
  for (int i = 0; i < 300; ++i) sender.enqueue(event());
  sender.stop();
  EXPECT_EQ(recorder.events(), 300);
  EXPECT_LT(recorder.posts(), 300);  // batched
  const auto counts = sender.counts();
  EXPECT_EQ(counts.sent, 300);
  EXPECT_EQ(counts.pending, 0);
  const std::string jsonl = vision::test::read_text(dir / "stats.jsonl");
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 300);
}

TEST(StatsSender, FallsBackToSingleEventsWithoutABatchEndpoint) {
  Recorder recorder(0, false);
  ASSERT_TRUE(recorder.start());
  TempDir dir;
  vision::StatsSender sender({"http://127.0.0.1:" + std::to_string(recorder.port()) + "/api/v1/push", dir / "s.jsonl"},
                             vision::make_http_stats_transport("", 2.0));
  ASSERT_TRUE(sender.start());
  for (int i = 0; i < 20; ++i) sender.enqueue(event());
  sender.stop();
  EXPECT_EQ(recorder.events(), 20);
  EXPECT_EQ(sender.counts().sent, 20);
}

TEST(StatsSender, KeepsEventsWhileTheServiceIsDownAndSendsThemWhenItReturns) {
  const int port = vision::net::free_loopback_port();
  TempDir dir;
  vision::StatsSender sender({"http://127.0.0.1:" + std::to_string(port) + "/api/v1/push", dir / "s.jsonl", 500, 0.05, 0.2, 5.0},
                             vision::make_http_stats_transport("", 1.0));
  ASSERT_TRUE(sender.start());
  for (int i = 0; i < 50; ++i) sender.enqueue(event());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(sender.counts().pending, 50);
  Recorder recorder(port, true);
  ASSERT_TRUE(recorder.start());
  for (int i = 0; i < 50; ++i) sender.enqueue(event());
  EXPECT_TRUE(wait_for([&] { return recorder.events() == 100; })) << recorder.events();
  sender.stop();
  EXPECT_EQ(recorder.events(), 100);  // every event exactly once
  EXPECT_EQ(sender.counts().sent, 100);
}

TEST(StatsSender, RejectedEventsAreCountedWithoutSinkingTheirNeighbours) {
  Recorder recorder(0, true);
  ASSERT_TRUE(recorder.start());
  TempDir dir;
  vision::StatsSender sender({"http://127.0.0.1:" + std::to_string(recorder.port()) + "/api/v1/push", dir / "s.jsonl"},
                             vision::make_http_stats_transport("", 2.0));
  for (int i = 0; i < 10; ++i) sender.enqueue(event(i == 4 ? "bad" : "good"));
  ASSERT_TRUE(sender.start());
  sender.stop();
  EXPECT_EQ(recorder.events(), 9);
  EXPECT_EQ(sender.counts().failed, 1);
  EXPECT_EQ(sender.counts().sent, 9);
}

TEST(StatsSender, StopGivesUpAfterTheDrainTimeoutAndReportsPending) {
  const int port = vision::net::free_loopback_port();
  TempDir dir;
  vision::StatsSender sender({"http://127.0.0.1:" + std::to_string(port) + "/api/v1/push", dir / "s.jsonl", 500, 0.05, 0.1, 0.3},
                             vision::make_http_stats_transport("", 0.5));
  ASSERT_TRUE(sender.start());
  for (int i = 0; i < 5; ++i) sender.enqueue(event());
  const auto t0 = std::chrono::steady_clock::now();
  sender.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_EQ(sender.counts().pending, 5);
  EXPECT_EQ(sender.counts().queued, 5);
}

// A process that reports to a service nobody started (the default endpoint) exits at once: the
// spool keeps the events for the next sender, so waiting out the drain would gain nothing.
TEST(StatsSender, StopDoesNotWaitForAnUnreachableServiceWhenTheSpoolKeepsTheEvents) {
  const int port = vision::net::free_loopback_port();
  TempDir dir;
  vision::StatsSenderOptions options{"http://127.0.0.1:" + std::to_string(port) + "/api/v1/push", dir / "s.jsonl", 500, 0.05, 5.0, 5.0};
  options.spool_dir = dir / "spool";
  vision::StatsSender sender(options, vision::make_http_stats_transport("", 1.0));
  ASSERT_TRUE(sender.start());
  for (int i = 0; i < 5; ++i) sender.enqueue(event());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // into its back-off
  const auto t0 = std::chrono::steady_clock::now();
  sender.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(sender.counts().pending, 5);
}

TEST(StatsSender, EmptyEndpointKeepsEventsLocal) {
  TempDir dir;
  vision::StatsSender sender({"", dir / "s.jsonl"}, vision::make_http_stats_transport("", 1.0));
  ASSERT_TRUE(sender.start());
  sender.enqueue(event());
  sender.stop();
  EXPECT_EQ(sender.counts().queued, 1);
  EXPECT_EQ(sender.counts().pending, 0);
  EXPECT_EQ(vision::stats_event_from_json(nlohmann::json::parse(vision::test::read_text(dir / "s.jsonl")))->source_id, "edge-1");
}

// A class name that is not UTF-8 (a model's metadata is not checked) must not throw out of
// enqueue, which runs on the edge's output thread: the byte is replaced.
TEST(StatsSender, InvalidUtf8IsReplacedNotThrown) {
  TempDir dir;
  vision::StatsSender sender({"", dir / "s.jsonl"}, vision::make_http_stats_transport("", 1.0));
  ASSERT_TRUE(sender.start());
  EXPECT_NO_THROW(sender.enqueue(vision::make_stats_event("edge-1", {{0, "caf\xE9", 0.9F, {0, 0, 1, 1}}}, 5.0)));
  sender.stop();
  const auto line = nlohmann::json::parse(vision::test::read_text(dir / "s.jsonl"));
  EXPECT_EQ(line["counts_by_class"].begin().key(), "caf\uFFFD");
}

// What one sender could not deliver (the service was down) is delivered by the next sender of
// the same spool, before its own events and once each; every event carries an event_id.
TEST(StatsSender, TheNextSenderOfASpoolDeliversItsBacklogFirstAndOnce) {
  const int port = vision::net::free_loopback_port();
  TempDir dir;
  vision::StatsSenderOptions options{"http://127.0.0.1:" + std::to_string(port) + "/api/v1/push", dir / "s.jsonl", 500, 0.05, 0.1, 0.3};
  options.spool_dir = dir / "spool";
  {
    vision::StatsSender first(options, vision::make_http_stats_transport("", 0.5));
    ASSERT_TRUE(first.start());
    for (int i = 0; i < 30; ++i) first.enqueue(event());
    first.stop();
    EXPECT_EQ(first.counts().pending, 30);
  }
  Recorder recorder(port, true);
  ASSERT_TRUE(recorder.start());
  vision::StatsSender second(options, vision::make_http_stats_transport("", 2.0));
  ASSERT_TRUE(second.start());
  EXPECT_EQ(second.counts().replayed, 30);
  for (int i = 0; i < 5; ++i) second.enqueue(event());
  EXPECT_TRUE(wait_for([&] { return recorder.events() == 35; })) << recorder.events();
  second.stop();
  const auto ids = recorder.ids();
  EXPECT_EQ(ids.size(), 35U);
  for (const auto& [id, copies] : ids) {
    EXPECT_FALSE(id.empty());
    EXPECT_EQ(copies, 1) << id;
  }
  EXPECT_EQ(second.counts().pending, 0);
}

// A refused batch goes one by one (isolating the bad event), then batching resumes.
TEST(StatsSender, BatchingResumesAfterOneRefusedBatch) {
  Recorder recorder(0, true);
  ASSERT_TRUE(recorder.start());
  TempDir dir;
  vision::StatsSender sender({"http://127.0.0.1:" + std::to_string(recorder.port()) + "/api/v1/push", dir / "s.jsonl", 500},
                             vision::make_http_stats_transport("", 2.0));
  for (int i = 0; i < 4; ++i) sender.enqueue(event(i == 1 ? "bad" : "good"));
  ASSERT_TRUE(sender.start());
  EXPECT_TRUE(wait_for([&] { return recorder.events() == 3; }));
  const int posts_before = recorder.posts();
  for (int i = 0; i < 100; ++i) sender.enqueue(event());
  EXPECT_TRUE(wait_for([&] { return recorder.events() == 103; }));
  sender.stop();
  // One by one would be 100 posts; the sender takes what has queued up, so a loaded machine
  // that lets it run between enqueues sees smaller batches, never single events throughout.
  EXPECT_LE(recorder.posts() - posts_before, 50) << "100 more events went in batches, not one by one";
}
