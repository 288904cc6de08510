#include "vision/stats/stats_service.hpp"

#include <mutex>

#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/net/http_server.hpp"
#include "vision/stats/dashboard.hpp"
#include "vision/stats/event_writer.hpp"
#include "vision/stats/stats_api.hpp"
#include "vision/stats/stats_metrics.hpp"

namespace vision::stats {

struct StatsService::Impl {
  StatsServiceOptions options;
  std::unique_ptr<StatsStore> store;
  StatsMetrics metrics;
  std::unique_ptr<EventWriter> writer;
  std::unique_ptr<StatsApi> api;
  std::unique_ptr<net::HttpServer> api_server;
  std::unique_ptr<net::HttpServer> ui_server;
  std::mutex stop_mutex;
  bool stopped = false;
};

Expected<void> check_exposure(const StatsServiceOptions& options) {
  if (net::is_loopback_name(options.public_host) || !options.api_key.empty() || options.insecure)
    return {};
  return fail(ErrorCode::config,
              "deploy.statistics.public_host = \"" + options.public_host +
                  "\" exposes the statistics service beyond this machine, but "
                  "deploy.statistics.api_key is empty: anyone could push events. Set an api_key "
                  "(clients send it as X-API-Key), bind to 127.0.0.1, or pass --insecure to accept "
                  "the risk.");
}

std::string local_url(const std::string& host, int port) {
  std::string h = host;
  if (h == "0.0.0.0" || h.empty()) h = "127.0.0.1";
  if (h == "::") h = "::1";
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  return "http://" + h + ":" + std::to_string(port);
}

StatsService::StatsService(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

StatsService::~StatsService() {
  stop();
}

Expected<std::unique_ptr<StatsService>> StatsService::start(const StatsServiceOptions& options) {
  if (auto ok = check_exposure(options); !ok) return std::unexpected(ok.error());
  if (options.dashboard && options.api_port != 0 && options.api_port == options.ui_port) {
    return fail(ErrorCode::config, "deploy.statistics.api_port and ui_port must differ (both " +
                                       std::to_string(options.api_port) + ")");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  auto store_options = options.store;
  store_options.durable = options.ack_after_commit;
  auto store = open_store(store_options);
  if (!store) return std::unexpected(store.error());
  impl->store = std::move(*store);

  EventWriterOptions writer_options;
  writer_options.flush_interval_sec = options.flush_interval_sec;
  writer_options.max_queue = options.max_queue_events;
  writer_options.retention_days = options.retention_days;
  impl->writer = std::make_unique<EventWriter>(*impl->store, writer_options, &impl->metrics);
  impl->writer->start();

  StatsApiOptions api_options;
  api_options.api_key = options.api_key;
  api_options.read_api_key = options.read_api_key;
  api_options.ack_after_commit = options.ack_after_commit;
  api_options.rate_limit_per_sec = options.rate_limit_per_sec;
  api_options.max_body_bytes = options.max_body_bytes;
  impl->api = std::make_unique<StatsApi>(api_options, *impl->store, *impl->writer, impl->metrics);

  // CORS only for the origins the config names; bound to loopback, only loopback Host headers.
  const bool loopback = net::is_loopback_name(options.public_host);
  net::HttpRouter api_router(
      {.cors_origins = options.cors_origins, .loopback_host_only = loopback, .log_name = "statistics.api"});
  impl->api->add_ingest_routes(api_router);
  impl->api->add_query_routes(api_router);
  net::HttpServerOptions api_server_options;
  api_server_options.host = options.public_host;
  api_server_options.port = options.api_port;
  api_server_options.threads = options.api_threads;
  api_server_options.payload_max_bytes = options.max_body_bytes;
  api_server_options.log_name = "statistics.api";
  impl->api_server = std::make_unique<net::HttpServer>(api_server_options, std::move(api_router));
  if (auto ok = impl->api_server->start(); !ok) {
    impl->writer->stop();
    return fail(ErrorCode::io, "statistics API: " + ok.error().message);
  }

  if (options.dashboard) {
    // The page and its data share one origin: the read API is served here too.
    net::HttpRouter ui_router({.loopback_host_only = loopback, .log_name = "statistics.ui"});
    add_dashboard_routes(ui_router);
    ui_router.add_route("GET", "/health", [api = impl->api.get()](const net::HttpRequest& r) {
      return api->health(r);
    });
    impl->api->add_query_routes(ui_router);
    net::HttpServerOptions ui_server_options;
    ui_server_options.host = options.public_host;
    ui_server_options.port = options.ui_port;
    ui_server_options.threads = options.ui_threads;
    ui_server_options.payload_max_bytes = 64 * 1024;
    // Browsers keep up to six idle connections each; free their workers quickly.
    ui_server_options.keep_alive_timeout_sec = 2;
    ui_server_options.log_name = "statistics.ui";
    impl->ui_server = std::make_unique<net::HttpServer>(ui_server_options, std::move(ui_router));
    if (auto ok = impl->ui_server->start(); !ok) {
      impl->api_server->stop();
      impl->writer->stop();
      return fail(ErrorCode::io, "statistics dashboard: " + ok.error().message);
    }
  }
  auto service = std::unique_ptr<StatsService>(new StatsService(std::move(impl)));
  log::info("statistics.service.start", "statistics service listening",
            {{"api", service->api_url()},
             {"dashboard", service->dashboard_url()},
             {"storage", service->store().kind()},
             {"location", service->store().location()}});
  return service;
}

int StatsService::api_port() const {
  return m_impl->api_server ? m_impl->api_server->port() : 0;
}
int StatsService::ui_port() const {
  return m_impl->ui_server ? m_impl->ui_server->port() : 0;
}
std::string StatsService::api_url() const {
  return local_url(m_impl->options.public_host, api_port());
}
std::string StatsService::dashboard_url() const {
  return m_impl->ui_server ? local_url(m_impl->options.public_host, ui_port()) + "/" : "";
}

void StatsService::stop() {
  std::lock_guard lock(m_impl->stop_mutex);
  if (m_impl->stopped) return;
  m_impl->stopped = true;
  // Servers first: once they are joined no handler can acknowledge another event, so the
  // writer's final commit covers every 200 that was sent.
  if (m_impl->ui_server) m_impl->ui_server->stop();
  if (m_impl->api_server) m_impl->api_server->stop();
  const auto pending = m_impl->writer->queued();
  m_impl->writer->stop();
  if (m_impl->store) m_impl->store->checkpoint();
  log::info("statistics.service.stop", "statistics service stopped",
            {{"committed_at_stop", pending},
             {"events_accepted", m_impl->metrics.events_accepted.load()},
             {"events_stored", m_impl->metrics.events_stored.load()}});
}

StatsStore& StatsService::store() {
  return *m_impl->store;
}
EventWriter& StatsService::writer() {
  return *m_impl->writer;
}
StatsMetrics& StatsService::metrics() {
  return m_impl->metrics;
}

Expected<void> serve(const StatsServiceOptions& options,
                     const std::function<void(const StatsService&)>& on_ready) {
  auto service = StatsService::start(options);
  if (!service) return std::unexpected(service.error());
  // A second Ctrl+C must not drop acknowledged events that wait for their commit.
  interrupt::hold_second_signal([writer = &(*service)->writer()]() -> std::string {
    const auto pending = writer->pending();
    return pending == 0 ? std::string() : "committing " + std::to_string(pending) + " acknowledged events";
  });
  if (on_ready) on_ready(**service);
  auto& metrics = (*service)->metrics();
  // A line per minute with the ingest counters instead of a line per push.
  std::uint64_t last_accepted = 0, last_rejected = 0;
  while (interrupt::sleep_for(std::chrono::seconds(60))) {
    const auto accepted = metrics.events_accepted.load();
    const auto rejected = metrics.events_rejected.load();
    if (accepted != last_accepted || rejected != last_rejected) {
      log::info("statistics.api.ingest", "events in the last minute",
                {{"accepted", accepted - last_accepted},
                 {"rejected", rejected - last_rejected},
                 {"stored_total", metrics.events_stored.load()}});
      last_accepted = accepted;
      last_rejected = rejected;
    }
  }
  log::info("statistics.service.stopping", "stop requested; committing queued events",
            {{"signal", interrupt::signal_number()}});
  (*service)->stop();
  interrupt::hold_second_signal(nullptr);
  return {};
}

}  // namespace vision::stats
