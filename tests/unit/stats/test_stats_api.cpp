// Route tests of the statistics API: handlers called with built requests, no socket. Every
// status a push can end with is triggered here, in the documented check order.
#include <gtest/gtest.h>

#include <unistd.h>

#include <limits>

#include <nlohmann/json.hpp>

#include "helpers/test_support.hpp"
#include "vision/core/contracts.hpp"
#include "vision/core/timestamp.hpp"
#include "vision/stats/event_writer.hpp"
#include "vision/stats/stats_api.hpp"
#include "vision/stats/stats_metrics.hpp"

using namespace vision;
using net::HttpRequest;
using net::HttpResponse;
using json = nlohmann::json;
using vision::test::TempDir;

namespace {

constexpr const char* k_seed_event =
    R"({"schema_version":1,"source_id":"edge-001","ts_utc":"2025-01-01T12:00:00Z","total_detections":3,"counts_by_class":{"person":2,"car":1},"latency_ms":42.5})";

json seed() {
  return json::parse(k_seed_event);
}

class StatsApiTest : public ::testing::Test {
 protected:
  void make_api(stats::StatsApiOptions options,
                stats::EventWriterOptions writer_options = {.flush_interval_sec = 3600},
                bool start_writer = true) {
    api.reset();
    writer.reset();
    auto opened = stats::open_store({.storage = "sqlite", .db_path = dir / "stats.db"});
    ASSERT_TRUE(opened) << opened.error().message;
    store = std::move(*opened);
    writer = std::make_unique<stats::EventWriter>(*store, writer_options, &metrics);
    if (start_writer) writer->start();
    api = std::make_unique<stats::StatsApi>(options, *store, *writer, metrics);
  }
  void SetUp() override { make_api({.api_key = "s3cret"}); }

  HttpRequest push_request(const std::string& body, const std::string& key = "s3cret",
                           const std::string& path = "/api/v1/push") {
    HttpRequest r;
    r.method = "POST";
    r.path = path;
    r.body = body;
    r.headers["content-type"] = "application/json";
    if (!key.empty()) r.headers["x-api-key"] = key;
    return r;
  }
  HttpResponse push(const json& body, const std::string& key = "s3cret") {
    return api->push(push_request(body.dump(), key));
  }
  HttpResponse push_raw(const std::string& body, const std::string& key = "s3cret") {
    return api->push(push_request(body, key));
  }
  HttpResponse batch(const json& body, const std::string& key = "s3cret") {
    return api->push_batch(push_request(body.dump(), key, "/api/v1/push/batch"));
  }
  HttpResponse get(HttpResponse (stats::StatsApi::*handler)(const HttpRequest&) const,
                   std::map<std::string, std::string> query = {}) {
    HttpRequest r;
    r.query = std::move(query);
    return ((*api).*handler)(r);
  }
  std::int64_t stored() {
    writer->flush();
    return *store->count();
  }

  TempDir dir;
  std::unique_ptr<stats::StatsStore> store;
  stats::StatsMetrics metrics;
  std::unique_ptr<stats::EventWriter> writer;
  std::unique_ptr<stats::StatsApi> api;
};

void expect_error(const HttpResponse& r, int status, const std::string& error,
                  const std::string& detail_part = "") {
  EXPECT_EQ(r.status, status) << r.body;
  const auto body = json::parse(r.body);
  EXPECT_EQ(body["ok"], false);
  EXPECT_EQ(body["error"], error) << r.body;
  if (!detail_part.empty()) {
    ASSERT_TRUE(body.contains("detail")) << r.body;
    EXPECT_NE(body["detail"].get<std::string>().find(detail_part), std::string::npos) << r.body;
  }
}

}  // namespace

TEST_F(StatsApiTest, TheSeedExampleWithItsKeyIsAcceptedAndStored) {
  const auto r = push_raw(k_seed_event);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"ok":true})"));
  ASSERT_EQ(stored(), 1);
  const auto e = store->events({}, 1, std::nullopt)->events.at(0);
  EXPECT_EQ(e.source_id, "edge-001");
  EXPECT_EQ(e.ts_utc, "2025-01-01T12:00:00.000000Z");
  EXPECT_EQ(e.total_detections, 3);
  EXPECT_EQ(e.counts_by_class, R"({"car":1,"person":2})") << "compact JSON";
  EXPECT_DOUBLE_EQ(e.latency_ms, 42.5);
  EXPECT_TRUE(vision::parse_utc_micros(e.ts_received_utc)) << e.ts_received_utc;
  EXPECT_EQ(metrics.push_requests(stats::PushEndpoint::single, 200), 1U);
}

TEST_F(StatsApiTest, AMissingOrWrongKeyIs401) {
  expect_error(push(seed(), ""), 401, "unauthorized");
  expect_error(push(seed(), "s3cre"), 401, "unauthorized");
  expect_error(push(seed(), "s3cret "), 401, "unauthorized");
  expect_error(batch(json::array({seed()}), "wrong"), 401, "unauthorized");
  EXPECT_EQ(stored(), 0);
  EXPECT_EQ(metrics.push_requests(stats::PushEndpoint::single, 401), 3U);
}

TEST_F(StatsApiTest, AuthIsCheckedBeforeValidation) {
  expect_error(push_raw("{not json", "wrong"), 401, "unauthorized");
}

TEST_F(StatsApiTest, NoKeyIsNeededWhenNoneIsConfigured) {
  make_api({});
  EXPECT_EQ(push(seed(), "").status, 200);
  EXPECT_EQ(push(seed(), "anything").status, 200);
}

TEST_F(StatsApiTest, MalformedJsonIs400) {
  expect_error(push_raw("{\"source_id\": "), 400, "validation_failed", "malformed JSON");
  expect_error(push_raw(""), 400, "validation_failed", "malformed JSON");
  expect_error(push_raw(R"({"schema_version":1,"latency_ms":NaN})"), 400, "validation_failed",
               "NaN");
  expect_error(push_raw(R"({"latency_ms":Infinity})"), 400, "validation_failed", "Infinity");
}

TEST_F(StatsApiTest, EachInvalidFieldIs400NamingTheField) {
  struct Case {
    std::string name;
    std::function<void(json&)> edit;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"negative latency", [](json& j) { j["latency_ms"] = -1.0; }, "latency_ms"},
      {"infinite latency",
       [](json& j) { j["latency_ms"] = std::numeric_limits<double>::infinity(); }, "latency_ms"},
      {"latency as text", [](json& j) { j["latency_ms"] = "42"; }, "latency_ms"},
      {"negative total", [](json& j) { j["total_detections"] = -3; }, "total_detections"},
      {"fractional total", [](json& j) { j["total_detections"] = 2.5; }, "total_detections"},
      {"negative class count", [](json& j) { j["counts_by_class"]["car"] = -1; },
       "counts_by_class.car"},
      {"empty class name", [](json& j) { j["counts_by_class"][""] = 1; }, "counts_by_class"},
      {"counts not an object", [](json& j) { j["counts_by_class"] = json::array(); },
       "counts_by_class"},
      {"empty source", [](json& j) { j["source_id"] = ""; }, "source_id"},
      {"missing source", [](json& j) { j.erase("source_id"); }, "source_id"},
      {"wrong schema version", [](json& j) { j["schema_version"] = 2; }, "schema_version"},
      {"schema version as text", [](json& j) { j["schema_version"] = "1"; }, "schema_version"},
      {"ts not ISO", [](json& j) { j["ts_utc"] = "yesterday"; }, "ts_utc"},
      {"impossible date", [](json& j) { j["ts_utc"] = "2025-02-30T12:00:00Z"; }, "ts_utc"},
      {"missing ts", [](json& j) { j.erase("ts_utc"); }, "ts_utc"},
      {"not an object",
       [](json& j) {
         j = json::array({1, 2});
       },
       "stats event"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    json body = seed();
    c.edit(body);
    expect_error(push(body), 400, "validation_failed", c.field);
  }
  EXPECT_EQ(stored(), 0);
}

TEST_F(StatsApiTest, ABatchIsStoredWholeOrNotAtAll) {
  json events = json::array();
  for (int i = 0; i < 5; ++i) {
    auto e = seed();
    e["source_id"] = "edge-00" + std::to_string(i);
    events.push_back(e);
  }
  events[3]["latency_ms"] = -5;
  expect_error(batch(events), 400, "validation_failed", "[3].latency_ms");
  EXPECT_EQ(stored(), 0);

  events[3]["latency_ms"] = 5;
  const auto ok = batch(events);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(json::parse(ok.body), json::parse(R"({"ok":true,"accepted":5})"));
  EXPECT_EQ(stored(), 5);
}

TEST_F(StatsApiTest, ABatchMayBeWrappedInAnEventsObject) {
  EXPECT_EQ(batch({{"events", json::array({seed(), seed()})}}).status, 200);
  EXPECT_EQ(batch(json::array()).status, 200);
  EXPECT_EQ(stored(), 2);
}

TEST_F(StatsApiTest, ABatchThatIsNotAnArrayIs400) {
  expect_error(batch(seed()), 400, "validation_failed", "array");
  expect_error(batch(json(42)), 400, "validation_failed", "array");
}

TEST_F(StatsApiTest, ABodyAboveTheLimitIs413) {
  make_api({.api_key = "s3cret", .max_body_bytes = 256});
  expect_error(push_raw(std::string(300, ' ') + k_seed_event), 413, "payload_too_large");
  expect_error(push_raw(std::string(300, ' '), ""), 413, "payload_too_large");
  EXPECT_EQ(push_raw(k_seed_event).status, 200);
}

TEST_F(StatsApiTest, TooManyEventsFromOneSourceIs429) {
  // One event per 50 s: a burst of one, and no refill while the test runs (the bucket
  // arithmetic itself is covered with explicit times in test_rate_limiter.cpp).
  make_api({.api_key = "s3cret", .rate_limit_per_sec = 0.02});
  EXPECT_EQ(push(seed()).status, 200);
  const auto limited = push(seed());
  expect_error(limited, 429, "rate_limited");
  EXPECT_EQ(limited.header("Retry-After"), "1");
  auto other = seed();
  other["source_id"] = "edge-002";
  EXPECT_EQ(push(other).status, 200) << "limits are per source";
  auto third = seed();
  third["source_id"] = "edge-003";
  expect_error(batch(json::array({third, seed()})), 429, "rate_limited");
  EXPECT_EQ(push(third).status, 200) << "the refused batch took nothing from edge-003";
  EXPECT_EQ(stored(), 3);
}

TEST_F(StatsApiTest, ValidationComesBeforeTheRateLimit) {
  make_api({.api_key = "s3cret", .rate_limit_per_sec = 0.02});
  EXPECT_EQ(push(seed()).status, 200);
  auto bad = seed();
  bad["latency_ms"] = -1;
  expect_error(push(bad), 400, "validation_failed");
  expect_error(push(seed()), 429, "rate_limited");
}

TEST_F(StatsApiTest, AFullWriteQueueIs503) {
  // A writer that never runs, so the queue stays full (ack = "queue": 200 once queued).
  make_api({.ack_after_commit = false},
           {.flush_interval_sec = 3600,
            .max_batch = 100,
            .max_queue = 2,
            .max_enqueue_wait = std::chrono::milliseconds(50)},
           false);
  EXPECT_EQ(push(seed(), "").status, 200);
  EXPECT_EQ(push(seed(), "").status, 200);
  const auto full = push(seed(), "");
  expect_error(full, 503, "unavailable");
  EXPECT_EQ(full.header("Retry-After"), "1");
}

TEST_F(StatsApiTest, HealthNamesTheStorageButNoPath) {
  const auto r = api->health({});
  EXPECT_EQ(r.status, 200);
  const auto body = json::parse(r.body);
  EXPECT_EQ(body["ok"], true);
  EXPECT_EQ(body["storage"], "sqlite");
  EXPECT_EQ(body["pid"], getpid());
  EXPECT_EQ(r.body.find((dir / "stats.db").string()), std::string::npos) << r.body;
}

TEST_F(StatsApiTest, MetricsCountPushesByStatusInPrometheusFormat) {
  push(seed());
  push(seed(), "bad");
  push_raw("{");
  const auto r = api->metrics({});
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.content_type.find("text/plain"), std::string::npos);
  for (const char* line : {"vision_stats_push_requests_total{endpoint=\"push\",status=\"200\"} 1",
                           "vision_stats_push_requests_total{endpoint=\"push\",status=\"401\"} 1",
                           "vision_stats_push_requests_total{endpoint=\"push\",status=\"400\"} 1",
                           "vision_stats_events_accepted_total 1",
                           "# TYPE vision_stats_push_duration_seconds histogram",
                           "vision_stats_push_duration_seconds_count{endpoint=\"push\"} 3"}) {
    EXPECT_NE(r.body.find(line), std::string::npos) << line << "\n" << r.body;
  }
}

TEST_F(StatsApiTest, ReadEndpointsRejectBadParameters) {
  using Api = stats::StatsApi;
  expect_error(get(&Api::overview, {{"from", "last week"}}), 400, "validation_failed", "from");
  expect_error(get(&Api::events, {{"to", "2025-13-01"}}), 400, "validation_failed", "to");
  expect_error(get(&Api::sources, {{"min_detections", "-1"}}), 400, "validation_failed",
               "min_detections");
  expect_error(get(&Api::classes, {{"window", "soon"}}), 400, "validation_failed", "window");
  expect_error(get(&Api::timeseries, {{"bucket", "2m"}}), 400, "validation_failed", "bucket");
  expect_error(get(&Api::events, {{"limit", "0"}}), 400, "validation_failed", "limit");
  expect_error(get(&Api::events, {{"limit", "5000"}}), 400, "validation_failed", "limit");
  expect_error(get(&Api::events, {{"cursor", "abc"}}), 400, "validation_failed", "cursor");
}

TEST_F(StatsApiTest, ReadEndpointsSeeCommittedPushes) {
  for (int i = 0; i < 4; ++i) {
    auto e = seed();
    e["total_detections"] = i;
    e["counts_by_class"] = {{"person", i}};
    e["latency_ms"] = 10.0 * (i + 1);
    e["source_id"] = i % 2 ? "edge-odd" : "edge-even";
    ASSERT_EQ(push(e).status, 200);
  }
  writer->flush();
  using Api = stats::StatsApi;
  const auto overview = json::parse(get(&Api::overview).body);
  EXPECT_EQ(overview["events"], 4);
  EXPECT_EQ(overview["detections"], 6);
  EXPECT_EQ(overview["sources"], 2);
  EXPECT_DOUBLE_EQ(overview["latency_ms"]["avg"].get<double>(), 25.0);
  EXPECT_DOUBLE_EQ(overview["latency_ms"]["p50"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(overview["latency_ms"]["p95"].get<double>(), 40.0);

  const auto odd =
      json::parse(get(&Api::overview, {{"source", "edge-odd"}, {"min_detections", "3"}}).body);
  EXPECT_EQ(odd["events"], 1);
  EXPECT_EQ(odd["last_event"]["total_detections"], 3);

  const auto events = json::parse(get(&Api::events, {{"limit", "3"}}).body);
  ASSERT_EQ(events["events"].size(), 3U);
  EXPECT_EQ(events["events"][0]["total_detections"], 3) << "newest first";
  EXPECT_EQ(events["events"][0]["counts_by_class"], json({{"person", 3}}));
  const auto rest =
      json::parse(get(&Api::events, {{"limit", "3"},
                                     {"cursor", std::to_string(events["next_cursor"].get<int>())}})
                      .body);
  ASSERT_EQ(rest["events"].size(), 1U);
  EXPECT_TRUE(rest["next_cursor"].is_null());

  const auto classes = json::parse(get(&Api::classes).body);
  ASSERT_EQ(classes["classes"].size(), 1U);
  EXPECT_EQ(classes["classes"][0]["detections"], 6);
  EXPECT_DOUBLE_EQ(classes["classes"][0]["share"].get<double>(), 1.0);

  const auto series = json::parse(get(&Api::timeseries, {{"bucket", "1m"}}).body);
  EXPECT_EQ(series["bucket_seconds"], 60);
  ASSERT_EQ(series["points"].size(), 1U);
  EXPECT_EQ(series["points"][0]["ts_utc"], "2025-01-01T12:00:00.000000Z");
  EXPECT_EQ(series["points"][0]["events"], 4);

  // A window ending now does not include 2025 events; the series is filled with empty buckets.
  const auto recent = json::parse(get(&Api::timeseries, {{"window", "15m"}}).body);
  EXPECT_EQ(recent["bucket"], "1m");
  EXPECT_GE(recent["points"].size(), 15U);
  for (const auto& p : recent["points"]) EXPECT_EQ(p["events"], 0);
  EXPECT_EQ(json::parse(get(&Api::overview, {{"window", "1h"}}).body)["events"], 0);
}

// With read_api_key set, every read route and /metrics want it; /health and pushes do not.
TEST_F(StatsApiTest, TheReadKeyGuardsEveryReadRouteAndMetrics) {
  make_api({.api_key = "s3cret", .read_api_key = "r3ad"});
  vision::net::HttpRouter router;
  api->add_ingest_routes(router);
  api->add_query_routes(router);
  ASSERT_EQ(push(seed()).status, 200);
  for (const char* path : {"/api/v1/overview", "/api/v1/events", "/api/v1/classes", "/api/v1/sources", "/api/v1/timeseries",
                           "/metrics"}) {
    HttpRequest r;
    r.path = path;
    const auto refused = router.dispatch(r);
    EXPECT_EQ(refused.status, 401) << path;
    EXPECT_EQ(json::parse(refused.body)["error"], "unauthorized") << path;
    r.headers["x-api-key"] = "s3cret";  // the push key is not the read key
    EXPECT_EQ(router.dispatch(r).status, 401) << path;
    r.headers["x-api-key"] = "r3ad";
    EXPECT_EQ(router.dispatch(r).status, 200) << path;
  }
  HttpRequest health;
  health.path = "/health";
  EXPECT_EQ(router.dispatch(health).status, 200);
}

// Counts near 2^63 once made every query's sums overflow (500 until retention removed them):
// they are refused at the door, and the largest counts allowed still sum without failing.
TEST_F(StatsApiTest, CountsThatCouldOverflowTheSumsAreRefused) {
  for (const std::int64_t huge : {std::int64_t{1} << 62, std::numeric_limits<std::int64_t>::max()}) {
    auto event = seed();
    event["total_detections"] = huge;
    EXPECT_EQ(push(event).status, 400);
    event = seed();
    event["counts_by_class"]["person"] = huge;
    EXPECT_EQ(push(event).status, 400);
  }
  for (int i = 0; i < 3; ++i) {
    auto event = seed();
    event["total_detections"] = vision::k_max_count;
    event["counts_by_class"] = {{"person", vision::k_max_count}};
    ASSERT_EQ(push(event).status, 200);
  }
  writer->flush();
  for (const auto route : {&stats::StatsApi::overview, &stats::StatsApi::classes, &stats::StatsApi::sources,
                           &stats::StatsApi::timeseries, &stats::StatsApi::events}) {
    const auto response = get(route);
    EXPECT_EQ(response.status, 200) << response.body;
  }
  EXPECT_EQ(json::parse(get(&stats::StatsApi::overview).body)["detections"], 3 * vision::k_max_count);
}
