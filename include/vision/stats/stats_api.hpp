// The statistics HTTP API as plain functions of HttpRequest → HttpResponse, so route tests call
// them without a socket. Ingest answers, in check order: 413 (body too large; the server
// already refuses it from Content-Length, before reading) → 401 (X-API-Key, when api_key is
// set) → 400 (validation) → 429 (per-source rate) → 503 (write queue full) → 200.
//
//   GET  /health                  {"ok":true,"storage":…,"db_path":…}
//   GET  /metrics                 Prometheus text
//   POST /api/v1/push             one StatsEvent
//   POST /api/v1/push/batch       [StatsEvent, …] (or {"events":[…]})
//   GET  /api/v1/overview         totals, latency avg/p50/p95/max, sources, last event
//   GET  /api/v1/events           newest first; limit (1..1000, 100), cursor
//   GET  /api/v1/classes          detections per class
//   GET  /api/v1/sources          per-source breakdown
//   GET  /api/v1/timeseries       bucket = 1m|5m|15m|1h|1d (default: from the range)
// Every read endpoint takes the filters source, from, to (ISO-8601; to is exclusive),
// window (15m, 1h, 24h, 7d…: from = now - window when from is absent) and min_detections.
#pragma once

#include <cstddef>
#include <string>

#include "vision/net/http_router.hpp"
#include "vision/stats/rate_limiter.hpp"

namespace vision::stats {

class EventWriter;
class StatsMetrics;
class StatsStore;

struct StatsApiOptions {
  std::string api_key;              // required on pushes when not empty
  std::string read_api_key;         // required (X-API-Key) on the read routes and /metrics when not empty
  bool ack_after_commit = true;     // ack = "commit": 200 only once the events are committed
  double rate_limit_per_sec = 0.0;  // per source; 0 = off
  std::size_t max_body_bytes = net::k_default_payload_max_bytes;
  int max_events_per_page = 1000;
};

class StatsApi {
 public:
  StatsApi(StatsApiOptions options, StatsStore& store, EventWriter& writer, StatsMetrics& metrics);

  net::HttpResponse health(const net::HttpRequest& request) const;
  net::HttpResponse metrics(const net::HttpRequest& request) const;
  net::HttpResponse push(const net::HttpRequest& request);
  net::HttpResponse push_batch(const net::HttpRequest& request);
  net::HttpResponse overview(const net::HttpRequest& request) const;
  net::HttpResponse events(const net::HttpRequest& request) const;
  net::HttpResponse classes(const net::HttpRequest& request) const;
  net::HttpResponse sources(const net::HttpRequest& request) const;
  net::HttpResponse timeseries(const net::HttpRequest& request) const;

  // /health, /metrics and the two push routes.
  void add_ingest_routes(net::HttpRouter& router);
  // The read-only /api/v1/* routes (served on the API port and by the dashboard).
  void add_query_routes(net::HttpRouter& router);

 private:
  // `route` behind the read key (401 without it when read_api_key is set).
  net::HttpHandler reader(net::HttpResponse (StatsApi::*route)(const net::HttpRequest&) const) const;
  net::HttpResponse ingest(const net::HttpRequest& request, bool batch, std::size_t& events);

  StatsApiOptions m_options;
  StatsStore& m_store;
  EventWriter& m_writer;
  StatsMetrics& m_metrics;
  RateLimiter m_limiter;
};

}  // namespace vision::stats
