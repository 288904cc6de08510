// The Python original's inference server of original_remote.hpp: counts without boxes.
#include "helpers/original_remote.hpp"

#include <mutex>
#include <stdexcept>

#include "vision/core/contracts.hpp"
#include "vision/net/http_client.hpp"
#include "vision/net/http_server.hpp"

namespace vision::test {

struct OriginalRemote::Impl {
  OriginalRemoteOptions options;
  mutable std::mutex mutex;
  int frames = 0;
  int health_requests = 0;
  int stats_pushed = 0;
  std::unique_ptr<net::HttpClient> stats;  // one connection, used under the mutex
  std::string stats_path;
  std::unique_ptr<net::HttpServer> server;

  net::HttpResponse frame(const net::HttpRequest& request) {
    const auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("source_id")) return net::HttpResponse::error(400, "validation_failed");
    const StatsEvent event = make_stats_event(body["source_id"].get<std::string>(), options.counts, 3.0);
    std::lock_guard lock(mutex);
    ++frames;
    if (stats) {
      auto pushed = stats->post_json(stats_path, to_json(event).dump());
      if (pushed && pushed->status == 200) ++stats_pushed;
    }
    return net::HttpResponse::json(200, {{"ok", true},
                                         {"source_id", event.source_id},
                                         {"frame_index", body.value("frame_index", std::int64_t{0})},
                                         {"total_detections", event.total_detections},
                                         {"counts_by_class", event.counts_by_class},
                                         {"latency_ms", event.latency_ms}});
  }
};

OriginalRemote::OriginalRemote(OriginalRemoteOptions options) : m_impl(std::make_unique<Impl>()) {
  m_impl->options = std::move(options);
  if (!m_impl->options.stats_endpoint.empty()) {
    auto parts = net::split_url(m_impl->options.stats_endpoint);
    if (!parts) throw std::invalid_argument("original remote: bad stats endpoint");
    m_impl->stats = std::make_unique<net::HttpClient>(net::HttpClientOptions{parts->first, 5.0, ""});
    m_impl->stats_path = parts->second;
  }
  net::HttpRouter router;
  router.add_route("POST", "/api/v1/frame", [impl = m_impl.get()](const net::HttpRequest& r) { return impl->frame(r); });
  router.add_route("GET", "/health", [impl = m_impl.get()](const net::HttpRequest&) {
    std::lock_guard lock(impl->mutex);
    ++impl->health_requests;
    return net::HttpResponse::json(impl->options.health_status, impl->options.health);
  });
  m_impl->server = std::make_unique<net::HttpServer>(
      net::HttpServerOptions{.host = "127.0.0.1", .port = 0, .threads = 4}, std::move(router));
  if (!m_impl->server->start()) throw std::runtime_error("original remote: cannot start");
}

OriginalRemote::~OriginalRemote() { m_impl->server->stop(); }

std::string OriginalRemote::frame_endpoint() const {
  return "http://127.0.0.1:" + std::to_string(m_impl->server->port()) + "/api/v1/frame";
}

int OriginalRemote::frames() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->frames;
}

int OriginalRemote::health_requests() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->health_requests;
}

int OriginalRemote::stats_pushed() const {
  std::lock_guard lock(m_impl->mutex);
  return m_impl->stats_pushed;
}

}  // namespace vision::test
