// The stream server's GET /health, asked once before the first frame, decides whether the edge
// pushes its own StatsEvents in stream mode.
#include "vision/edge/stream_stats.hpp"

#include <nlohmann/json.hpp>

#include "vision/core/log.hpp"
#include "vision/net/http_client.hpp"

namespace vision {

namespace {

// The answer when the server cannot say whether it reports: the Python original's servers
// always did and its edges never pushed, so a mixed fleet keeps counting each frame once.
StreamPushDecision left_to_server(const std::string& why) {
  return {false, why + "; the server is taken to report each frame, as the Python original's does "
                       "(set deploy.edge.stream_push_stats = \"always\" if it does not)"};
}

StreamPushDecision ask_server(const StreamOptions& stream) {
  auto parts = net::split_url(stream.endpoint);
  if (!parts) return left_to_server("deploy.edge.stream_endpoint: " + parts.error().message);
  const std::string url = parts->first + "/health";
  net::HttpClient client({parts->first, stream.timeout_sec, stream.api_key});
  auto response = client.get("/health");
  if (!response) return left_to_server("cannot ask " + url + " (" + response.error().message + ")");
  if (response->status != 200) return left_to_server(url + " answered HTTP " + std::to_string(response->status));
  const auto health = nlohmann::json::parse(response->body, nullptr, false);
  if (!health.is_object()) return left_to_server(url + " answered no JSON object");
  const auto reports = health.find("reports_stats");
  if (reports == health.end()) {
    return {false, url + " has no reports_stats: a server that predates it (the Python original's) reports each frame"};
  }
  if (!reports->is_boolean()) return left_to_server(url + " answered reports_stats = " + reports->dump());
  if (reports->get<bool>()) return {false, url + " says the server reports each frame (reports_stats: true)"};
  return {true, url + " says the server reports no frame (reports_stats: false)"};
}

}  // namespace

Expected<StreamPushStats> parse_stream_push_stats(const std::string& text) {
  if (text == "auto") return StreamPushStats::automatic;
  if (text == "always") return StreamPushStats::always;
  if (text == "never") return StreamPushStats::never;
  return fail(ErrorCode::config, "deploy.edge.stream_push_stats: \"" + text + "\": must be one of auto|always|never");
}

StreamPushDecision decide_stream_push(StreamPushStats setting, const StreamOptions& stream) {
  StreamPushDecision decision;
  if (setting == StreamPushStats::always) {
    decision = {true, "deploy.edge.stream_push_stats = \"always\""};
  } else if (setting == StreamPushStats::never) {
    decision = {false, "deploy.edge.stream_push_stats = \"never\""};
  } else {
    decision = ask_server(stream);
  }
  log::info("deploy.edge.stream_push_stats",
            std::string(decision.edge_pushes ? "the edge pushes a StatsEvent per streamed frame itself: "
                                             : "the edge leaves the StatsEvents of streamed frames to the server: ") +
                decision.reason,
            {{"edge_pushes", decision.edge_pushes}});
  return decision;
}

}  // namespace vision
