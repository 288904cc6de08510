// deploy.edge.stream_push_stats: who reports a streamed frame, decided from the setting and, for
// "auto", from the stream server's GET /health (servers on loopback that answer each form).
#include <gtest/gtest.h>

#include "helpers/original_remote.hpp"
#include "vision/edge/stream_stats.hpp"
#include "vision/net/free_port.hpp"

using nlohmann::json;
using vision::StreamPushStats;
using vision::test::OriginalRemote;
using vision::test::OriginalRemoteOptions;

namespace {

vision::StreamOptions stream_to(const std::string& endpoint) { return {endpoint, "", 2.0, 80, "edge-001"}; }

OriginalRemoteOptions answering_health(int status, json health) {
  OriginalRemoteOptions options;
  options.health_status = status;
  options.health = std::move(health);
  return options;
}

}  // namespace

TEST(StreamPushStats, ParsesTheThreeSettings) {
  EXPECT_EQ(vision::parse_stream_push_stats("auto"), StreamPushStats::automatic);
  EXPECT_EQ(vision::parse_stream_push_stats("always"), StreamPushStats::always);
  EXPECT_EQ(vision::parse_stream_push_stats("never"), StreamPushStats::never);
  auto bad = vision::parse_stream_push_stats("sometimes");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, vision::ErrorCode::config);
  EXPECT_NE(bad.error().message.find("auto|always|never"), std::string::npos) << bad.error().message;
}

TEST(StreamPushStats, AutoFollowsWhatTheServersHealthSays) {
  struct Case {
    std::string name;
    OriginalRemoteOptions server;
    bool edge_pushes;
    std::string words;  // part of the reason
  };
  const std::vector<Case> cases = {
      {"reports", answering_health(200, {{"ok", true}, {"reports_stats", true}}), false, "reports_stats: true"},
      {"does not report", answering_health(200, {{"ok", true}, {"reports_stats", false}}), true, "reports_stats: false"},
      {"the original: no field", {}, false, "has no reports_stats"},
      {"not a boolean", answering_health(200, {{"reports_stats", "yes"}}), false, "reports_stats = \"yes\""},
      {"HTTP 404", answering_health(404, {{"error", "not_found"}}), false, "answered HTTP 404"},
      {"not an object", answering_health(200, json::array()), false, "no JSON object"},
  };
  for (const auto& c : cases) {
    OriginalRemote server(c.server);
    const auto decision = vision::decide_stream_push(StreamPushStats::automatic, stream_to(server.frame_endpoint()));
    EXPECT_EQ(decision.edge_pushes, c.edge_pushes) << c.name << ": " << decision.reason;
    EXPECT_NE(decision.reason.find(c.words), std::string::npos) << c.name << ": " << decision.reason;
    EXPECT_NE(decision.reason.find("/health"), std::string::npos) << c.name << ": " << decision.reason;
    EXPECT_EQ(server.health_requests(), 1) << c.name;
    EXPECT_EQ(server.frames(), 0) << c.name;
  }
}

TEST(StreamPushStats, AutoLeavesTheReportingToAServerItCannotAsk) {
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(vision::net::free_loopback_port()) + "/api/v1/frame";
  const auto decision = vision::decide_stream_push(StreamPushStats::automatic, stream_to(endpoint));
  EXPECT_FALSE(decision.edge_pushes);
  EXPECT_NE(decision.reason.find("cannot ask"), std::string::npos) << decision.reason;
  EXPECT_NE(decision.reason.find("stream_push_stats = \"always\""), std::string::npos) << decision.reason;
}

TEST(StreamPushStats, AlwaysAndNeverDoNotAskTheServer) {
  OriginalRemote server;
  const auto always = vision::decide_stream_push(StreamPushStats::always, stream_to(server.frame_endpoint()));
  EXPECT_TRUE(always.edge_pushes);
  EXPECT_NE(always.reason.find("\"always\""), std::string::npos) << always.reason;
  const auto never = vision::decide_stream_push(StreamPushStats::never, stream_to(server.frame_endpoint()));
  EXPECT_FALSE(never.edge_pushes);
  EXPECT_NE(never.reason.find("\"never\""), std::string::npos) << never.reason;
  EXPECT_EQ(server.health_requests(), 0);
}
