#include "vision/stats/stats_api.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>

#include <nlohmann/json.hpp>

#include "event_parser.hpp"
#include "vision/core/log.hpp"
#include "vision/core/timestamp.hpp"
#include "vision/stats/event_writer.hpp"
#include "vision/stats/stats_metrics.hpp"
#include "vision/stats/stats_store.hpp"

namespace vision::stats {

using net::HttpRequest;
using net::HttpResponse;
using json = nlohmann::json;

namespace {

HttpResponse invalid(std::string detail) {
  return HttpResponse::error(400, "validation_failed", detail);
}

// "15m" → 900; also s, h, d. nullopt when malformed.
std::optional<std::int64_t> parse_duration_seconds(const std::string& text) {
  if (text.size() < 2) return std::nullopt;
  std::int64_t value = 0;
  const auto* end = text.data() + text.size() - 1;
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value <= 0) return std::nullopt;
  switch (text.back()) {
    case 's':
      return value;
    case 'm':
      return value * 60;
    case 'h':
      return value * 3600;
    case 'd':
      return value * 86400;
    default:
      return std::nullopt;
  }
}

std::optional<std::int64_t> parse_int(const std::string& text) {
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

struct ParsedFilter {
  EventFilter filter;
  std::int64_t from_micros = 0;  // 0 when open
  std::int64_t to_micros = 0;
};

// Reads source, from, to, window and min_detections; an HttpResponse (400) on error.
std::variant<ParsedFilter, HttpResponse> read_filter(const HttpRequest& request) {
  ParsedFilter parsed;
  auto& f = parsed.filter;
  f.source_id = request.query_param("source");
  for (auto [name, text, micros] : {std::tuple{"from", &f.from_utc, &parsed.from_micros},
                                    std::tuple{"to", &f.to_utc, &parsed.to_micros}}) {
    const std::string value = request.query_param(name);
    if (value.empty()) continue;
    auto t = parse_utc_micros(value);
    if (!t) return invalid(std::string(name) + ": " + t.error().message);
    *micros = *t;
    *text = format_utc_micros(*t);
  }
  const std::string window = request.query_param("window");
  if (!window.empty() && window != "all") {
    const auto seconds = parse_duration_seconds(window);
    if (!seconds)
      return invalid("window: must be a duration such as 15m, 1h, 24h or 7d, got \"" + window +
                     "\"");
    if (f.from_utc.empty()) {
      const std::int64_t end = parsed.to_micros ? parsed.to_micros : now_utc_micros();
      parsed.from_micros = end - *seconds * 1'000'000;
      f.from_utc = format_utc_micros(parsed.from_micros);
    }
  }
  const std::string min = request.query_param("min_detections");
  if (!min.empty()) {
    const auto value = parse_int(min);
    if (!value || *value < 0)
      return invalid("min_detections: must be an integer >= 0, got \"" + min + "\"");
    f.min_detections = *value;
  }
  return parsed;
}

json counts_json(const std::string& text) {
  auto parsed = json::parse(text, nullptr, false);
  return parsed.is_discarded() ? json(text) : parsed;
}

json event_json(const StoredEvent& e) {
  return {{"id", e.id},
          {"source_id", e.source_id},
          {"ts_utc", e.ts_utc},
          {"ts_received_utc", e.ts_received_utc.empty() ? json(nullptr) : json(e.ts_received_utc)},
          {"total_detections", e.total_detections},
          {"counts_by_class", counts_json(e.counts_by_class)},
          {"latency_ms", e.latency_ms}};
}

json filter_json(const EventFilter& f) {
  return {{"source", f.source_id.empty() ? json(nullptr) : json(f.source_id)},
          {"from", f.from_utc.empty() ? json(nullptr) : json(f.from_utc)},
          {"to", f.to_utc.empty() ? json(nullptr) : json(f.to_utc)},
          {"min_detections", f.min_detections}};
}

HttpResponse store_failure(const Error& error) {
  // The message can name paths or hosts; keep it in the log, not in the reply.
  log::error("statistics.api.query.failed", error.message);
  return HttpResponse::error(500, "internal_error",
                             "the store failed to answer; see the service log");
}

}  // namespace

StatsApi::StatsApi(StatsApiOptions options, StatsStore& store, EventWriter& writer,
                   StatsMetrics& metrics)
    : m_options(std::move(options)),
      m_store(store),
      m_writer(writer),
      m_metrics(metrics),
      m_limiter(m_options.rate_limit_per_sec) {}

HttpResponse StatsApi::health(const HttpRequest&) const {
  // The pid lets `vision stats start` tell its own child from another server on the port.
  // No paths or URLs: /health answers anyone who reaches the port.
  return HttpResponse::json(200, {{"ok", true}, {"pid", getpid()}, {"storage", m_store.kind()}, {"queued_events", m_writer.queued()}});
}

HttpResponse StatsApi::metrics(const HttpRequest&) const {
  return HttpResponse::text(200, m_metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
}

HttpResponse StatsApi::push(const HttpRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  std::size_t events = 0;
  auto response = ingest(request, false, events);
  m_metrics.count_push(PushEndpoint::single, response.status,
                       std::chrono::steady_clock::now() - started);
  return response;
}

HttpResponse StatsApi::push_batch(const HttpRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  std::size_t events = 0;
  auto response = ingest(request, true, events);
  m_metrics.count_push(PushEndpoint::batch, response.status,
                       std::chrono::steady_clock::now() - started);
  return response;
}

HttpResponse StatsApi::ingest(const HttpRequest& request, bool batch, std::size_t& count) {
  auto rejected = [&](HttpResponse response) {
    m_metrics.events_rejected += std::max<std::size_t>(count, 1);
    log::debug("statistics.api.push.rejected", response.body, {{"status", response.status}});
    return response;
  };
  if (request.body.size() > m_options.max_body_bytes) {
    return rejected(HttpResponse::error(
        413, "payload_too_large",
        "the body exceeds " + std::to_string(m_options.max_body_bytes) + " bytes"));
  }
  if (!m_options.api_key.empty() &&
      !net::constant_time_equals(request.header("x-api-key"), m_options.api_key)) {
    return rejected(HttpResponse::error(401, "unauthorized"));
  }

  const std::string received = format_utc_micros(now_utc_micros());
  auto parsed = parse_stats_events(request.body, batch, received);
  if (!parsed) return rejected(invalid(parsed.error().message));
  std::vector<NewEvent> events = std::move(*parsed);
  count = events.size();

  if (m_limiter.enabled()) {
    std::map<std::string, std::int64_t> per_source;
    for (const auto& e : events) ++per_source[e.source_id];
    if (!m_limiter.try_acquire(per_source)) {
      auto response = HttpResponse::error(
          429, "rate_limited",
          "more than " + json(m_options.rate_limit_per_sec).dump() + " events/s from one source");
      response.set_header("Retry-After", "1");
      return rejected(response);
    }
  }
  if (!m_writer.enqueue(std::move(events), m_options.ack_after_commit)) {
    auto response = HttpResponse::error(503, "unavailable",
                                        m_options.ack_after_commit
                                            ? "the events could not be committed (queue full, store failing or stopping)"
                                            : "the write queue is full or the service is stopping");
    response.set_header("Retry-After", "1");
    return rejected(response);
  }
  m_metrics.events_accepted += count;
  log::debug("statistics.api.push.ok", m_options.ack_after_commit ? "events committed" : "events queued");
  if (!batch) return HttpResponse::json(200, {{"ok", true}});
  return HttpResponse::json(200, {{"ok", true}, {"accepted", count}});
}

HttpResponse StatsApi::overview(const HttpRequest& request) const {
  auto parsed = read_filter(request);
  if (auto* error = std::get_if<HttpResponse>(&parsed)) return *error;
  const auto& filter = std::get<ParsedFilter>(parsed).filter;
  auto o = m_store.overview(filter);
  if (!o) return store_failure(o.error());
  return HttpResponse::json(
      200, {{"ok", true},
            {"events", o->events},
            {"detections", o->detections},
            {"sources", o->sources},
            {"latency_ms",
             {{"avg", o->avg_latency_ms},
              {"p50", o->p50_latency_ms},
              {"p95", o->p95_latency_ms},
              {"max", o->max_latency_ms}}},
            {"first_ts_utc", o->first_ts_utc.empty() ? json(nullptr) : json(o->first_ts_utc)},
            {"last_ts_utc", o->last_ts_utc.empty() ? json(nullptr) : json(o->last_ts_utc)},
            {"last_event", o->last_event ? event_json(*o->last_event) : json(nullptr)},
            {"filter", filter_json(filter)}});
}

HttpResponse StatsApi::events(const HttpRequest& request) const {
  auto parsed = read_filter(request);
  if (auto* error = std::get_if<HttpResponse>(&parsed)) return *error;
  const auto& filter = std::get<ParsedFilter>(parsed).filter;
  int limit = 100;
  if (request.has_query("limit")) {
    const auto value = parse_int(request.query_param("limit"));
    if (!value || *value < 1 || *value > m_options.max_events_per_page) {
      return invalid("limit: must be an integer from 1 to " +
                     std::to_string(m_options.max_events_per_page));
    }
    limit = static_cast<int>(*value);
  }
  std::optional<std::int64_t> cursor;
  if (request.has_query("cursor") && !request.query_param("cursor").empty()) {
    cursor = parse_int(request.query_param("cursor"));
    if (!cursor || *cursor < 1)
      return invalid("cursor: must be the next_cursor of a previous page");
  }
  auto page = m_store.events(filter, limit, cursor);
  if (!page) return store_failure(page.error());
  json list = json::array();
  for (const auto& e : page->events) list.push_back(event_json(e));
  return HttpResponse::json(
      200, {{"ok", true},
            {"events", list},
            {"next_cursor", page->next_cursor ? json(*page->next_cursor) : json(nullptr)},
            {"filter", filter_json(filter)}});
}

HttpResponse StatsApi::classes(const HttpRequest& request) const {
  auto parsed = read_filter(request);
  if (auto* error = std::get_if<HttpResponse>(&parsed)) return *error;
  const auto& filter = std::get<ParsedFilter>(parsed).filter;
  auto totals = m_store.class_totals(filter);
  if (!totals) return store_failure(totals.error());
  std::int64_t sum = 0;
  for (const auto& t : *totals) sum += t.detections;
  json list = json::array();
  for (const auto& t : *totals) {
    list.push_back(
        {{"class_name", t.class_name},
         {"detections", t.detections},
         {"events", t.events},
         {"share", sum > 0 ? static_cast<double>(t.detections) / static_cast<double>(sum) : 0.0}});
  }
  return HttpResponse::json(200, {{"ok", true},
                                  {"classes", list},
                                  {"total_detections", sum},
                                  {"filter", filter_json(filter)}});
}

HttpResponse StatsApi::sources(const HttpRequest& request) const {
  auto parsed = read_filter(request);
  if (auto* error = std::get_if<HttpResponse>(&parsed)) return *error;
  const auto& filter = std::get<ParsedFilter>(parsed).filter;
  auto rows = m_store.sources(filter);
  if (!rows) return store_failure(rows.error());
  json list = json::array();
  for (const auto& s : *rows) {
    list.push_back({{"source_id", s.source_id},
                    {"events", s.events},
                    {"detections", s.detections},
                    {"avg_latency_ms", s.avg_latency_ms},
                    {"max_latency_ms", s.max_latency_ms},
                    {"first_ts_utc", s.first_ts_utc},
                    {"last_ts_utc", s.last_ts_utc}});
  }
  return HttpResponse::json(200,
                            {{"ok", true}, {"sources", list}, {"filter", filter_json(filter)}});
}

HttpResponse StatsApi::timeseries(const HttpRequest& request) const {
  auto parsed_or_error = read_filter(request);
  if (auto* error = std::get_if<HttpResponse>(&parsed_or_error)) return *error;
  const auto& parsed = std::get<ParsedFilter>(parsed_or_error);
  static const std::map<std::string, int> k_buckets = {
      {"1m", 60}, {"5m", 300}, {"15m", 900}, {"1h", 3600}, {"1d", 86400}};
  std::string bucket = request.query_param("bucket", "auto");
  if (bucket == "auto") {
    // About 60 to 300 points for the usual dashboard ranges.
    const std::int64_t span =
        parsed.from_micros
            ? ((parsed.to_micros ? parsed.to_micros : now_utc_micros()) - parsed.from_micros) /
                  1'000'000
            : 30 * 86400;
    bucket = span <= 3 * 3600 ? "1m" : span <= 24 * 3600 ? "5m" : span <= 14 * 86400 ? "1h" : "1d";
  }
  const auto it = k_buckets.find(bucket);
  if (it == k_buckets.end())
    return invalid("bucket: must be one of 1m, 5m, 15m, 1h, 1d, got \"" + bucket + "\"");
  const int width = it->second;
  auto points = m_store.time_series(parsed.filter, width);
  if (!points) return store_failure(points.error());

  // Fill empty buckets with zeros over the requested range (or the data's range), so charts
  // show gaps as gaps; skipped when it would mean too many points.
  std::vector<SeriesPoint> filled;
  std::int64_t first = points->empty() ? 0 : points->front().bucket_start;
  std::int64_t last = points->empty() ? 0 : points->back().bucket_start;
  if (parsed.from_micros) {
    first = parsed.from_micros / 1'000'000 / width * width;
    const std::int64_t end = parsed.to_micros ? parsed.to_micros - 1 : now_utc_micros();
    last = std::max(last, end / 1'000'000 / width * width);
  }
  constexpr std::int64_t k_max_points = 5000;
  if ((!points->empty() || parsed.from_micros) && (last - first) / width < k_max_points) {
    size_t next = 0;
    for (std::int64_t t = first; t <= last; t += width) {
      while (next < points->size() && (*points)[next].bucket_start < t) ++next;
      if (next < points->size() && (*points)[next].bucket_start == t) {
        filled.push_back((*points)[next++]);
      } else {
        filled.push_back({t, 0, 0, 0.0, 0.0});
      }
    }
  } else {
    filled = std::move(*points);
  }
  json list = json::array();
  for (const auto& p : filled) {
    list.push_back({{"t", p.bucket_start},
                    {"ts_utc", format_utc_micros(p.bucket_start * 1'000'000)},
                    {"events", p.events},
                    {"detections", p.detections},
                    {"avg_latency_ms", p.avg_latency_ms},
                    {"max_latency_ms", p.max_latency_ms}});
  }
  return HttpResponse::json(200, {{"ok", true},
                                  {"bucket", bucket},
                                  {"bucket_seconds", width},
                                  {"points", list},
                                  {"filter", filter_json(parsed.filter)}});
}

net::HttpHandler StatsApi::reader(HttpResponse (StatsApi::*route)(const HttpRequest&) const) const {
  return [this, route](const HttpRequest& r) {
    if (!m_options.read_api_key.empty() && !net::constant_time_equals(r.header("x-api-key"), m_options.read_api_key)) {
      return HttpResponse::error(401, "unauthorized", "this server needs deploy.statistics.read_api_key as X-API-Key to read");
    }
    return (this->*route)(r);
  };
}

void StatsApi::add_ingest_routes(net::HttpRouter& router) {
  router.add_route("GET", "/health", [this](const HttpRequest& r) { return health(r); });
  router.add_route("GET", "/metrics", reader(&StatsApi::metrics));
  router.add_route("POST", "/api/v1/push", [this](const HttpRequest& r) { return push(r); });
  router.add_route("POST", "/api/v1/push/batch",
                   [this](const HttpRequest& r) { return push_batch(r); });
}

void StatsApi::add_query_routes(net::HttpRouter& router) {
  router.add_route("GET", "/api/v1/overview", reader(&StatsApi::overview));
  router.add_route("GET", "/api/v1/events", reader(&StatsApi::events));
  router.add_route("GET", "/api/v1/classes", reader(&StatsApi::classes));
  router.add_route("GET", "/api/v1/sources", reader(&StatsApi::sources));
  router.add_route("GET", "/api/v1/timeseries", reader(&StatsApi::timeseries));
}

}  // namespace vision::stats
