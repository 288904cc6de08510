// SqliteStore: the conformance suite, plus what only SQLite has — WAL, the seed's schema,
// restarts, upgrades of the Python original's database, and API numbers checked against SQL
// written independently here.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <regex>

#include <nlohmann/json.hpp>

#include "helpers/test_support.hpp"
#include "store_conformance.hpp"
#include "vision/core/timestamp.hpp"
#include "vision/stats/event_writer.hpp"
#include "vision/stats/stats_api.hpp"
#include "vision/stats/stats_metrics.hpp"

namespace fs = std::filesystem;
using namespace vision;
using vision::test::sample_events;
using vision::test::StoreBackend;
using vision::test::StoreConformance;
using vision::test::TempDir;
using json = nlohmann::json;

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(StoreBackend{
                             "sqlite",
                             [](const fs::path& dir,
                                std::string&) -> std::unique_ptr<stats::StatsStore> {
                               auto store = stats::open_store(
                                   {.storage = "sqlite", .db_path = dir / "stats" / "stats.db"});
                               EXPECT_TRUE(store) << store.error().message;
                               return store ? std::move(*store) : nullptr;
                             }}),
                         [](const auto& param_info) { return param_info.param.name; });

namespace {

// A raw connection for checks that must not go through the code under test.
class RawDb {
 public:
  explicit RawDb(const fs::path& path) { sqlite3_open(path.c_str(), &m_db); }
  ~RawDb() { sqlite3_close(m_db); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;
  void exec(const std::string& sql) {
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error ? error : "");
  }
  // The first column of the first row, as text.
  std::string scalar(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(m_db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(m_db);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  double number(const std::string& sql) { return std::stod(scalar(sql)); }

 private:
  sqlite3* m_db = nullptr;
};

std::unique_ptr<stats::StatsStore> open_sqlite(const fs::path& path) {
  auto store = stats::open_store({.storage = "sqlite", .db_path = path});
  EXPECT_TRUE(store) << store.error().message;
  return store ? std::move(*store) : nullptr;
}

net::HttpRequest get(const std::string& path, std::map<std::string, std::string> query = {}) {
  net::HttpRequest r;
  r.method = "GET";
  r.path = path;
  r.query = std::move(query);
  return r;
}

}  // namespace

TEST(SqliteStore, CreatesTheSeedSchemaInWalModeWithBothIndexes) {
  TempDir dir;
  const auto path = dir / "nested/folder/stats.db";
  auto store = open_sqlite(path);
  ASSERT_TRUE(store);
  ASSERT_TRUE(fs::exists(path)) << "the folder is created";
  RawDb db(path);
  EXPECT_EQ(db.scalar("PRAGMA journal_mode"), "wal");
  // The CREATE statement with runs of blanks folded to one.
  const std::string table =
      std::regex_replace(db.scalar("SELECT sql FROM sqlite_master WHERE name = 'stats_events'"),
                         std::regex(R"(\s+)"), " ");
  for (const char* column :
       {"id INTEGER PRIMARY KEY AUTOINCREMENT", "source_id", "ts_utc", "total_detections",
        "counts_by_class", "latency_ms", "ts_received_utc"}) {
    EXPECT_NE(table.find(column), std::string::npos) << column;
  }
  EXPECT_EQ(
      db.scalar(
          "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'stats_events' "
          "AND sql LIKE '%(ts_utc)%'"),
      "1");
  EXPECT_EQ(
      db.scalar(
          "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'stats_events' "
          "AND sql LIKE '%(source_id)%'"),
      "1");
}

TEST(SqliteStore, ARestartKeepsEveryEvent) {
  TempDir dir;
  const auto path = dir / "stats.db";
  const auto events = sample_events(321);
  {
    auto store = open_sqlite(path);
    ASSERT_TRUE(store->insert(events));
  }
  auto reopened = open_sqlite(path);
  EXPECT_EQ(*reopened->count(), 321);
  ASSERT_TRUE(reopened->insert(std::span(events).first(9)));
  EXPECT_EQ(*reopened->count(), 330);
  EXPECT_EQ(reopened->events({}, 1, std::nullopt)->events.front().id, 330)
      << "ids keep counting up";
}

TEST(SqliteStore, UpgradesADatabaseOfThePythonOriginal) {
  TempDir dir;
  const auto path = dir / "stats.db";
  {
    RawDb db(path);
    db.exec(R"(CREATE TABLE stats_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, source_id TEXT NOT NULL, ts_utc TEXT NOT NULL,
        total_detections INTEGER NOT NULL, counts_by_class TEXT NOT NULL, latency_ms REAL NOT NULL);
      INSERT INTO stats_events (source_id, ts_utc, total_detections, counts_by_class, latency_ms)
      VALUES ('edge-001', '2025-01-01T12:00:00.000000Z', 3, '{"person": 2, "car": 1}', 42.5);)");
  }
  auto store = open_sqlite(path);
  ASSERT_TRUE(store);
  const auto page = *store->events({}, 10, std::nullopt);
  ASSERT_EQ(page.events.size(), 1U);
  EXPECT_EQ(page.events[0].source_id, "edge-001");
  EXPECT_EQ(page.events[0].ts_received_utc, "");
  EXPECT_EQ(store->class_totals({})->size(), 2U);
  RawDb db(path);
  EXPECT_EQ(
      db.scalar(
          "SELECT COUNT(*) FROM pragma_table_info('stats_events') WHERE name = 'ts_received_utc'"),
      "1");
}

TEST(SqliteStore, AnUnwritableLocationIsAnIoError) {
  TempDir dir;
  vision::test::write_text(dir / "file", "x");
  auto store = stats::open_store({.storage = "sqlite", .db_path = dir / "file" / "stats.db"});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::io);
}

TEST(SqliteStore, UnknownStorageIsAConfigError) {
  auto store = stats::open_store({.storage = "mongodb"});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, ErrorCode::config);
}

TEST(SqliteStore, CheckpointEmptiesTheWal) {
  TempDir dir;
  const auto path = dir / "stats.db";
  auto store = open_sqlite(path);
  ASSERT_TRUE(store->insert(sample_events(2000)));
  ASSERT_TRUE(store->checkpoint());
  EXPECT_EQ(fs::file_size(fs::path(path.string() + "-wal")), 0U);
}

// The read endpoints' numbers equal SQL written here, independently of the store's queries.
TEST(SqliteStore, ReadEndpointsMatchIndependentSql) {
  TempDir dir;
  const auto path = dir / "stats.db";
  auto store = open_sqlite(path);
  ASSERT_TRUE(store->insert(sample_events(1234)));
  stats::StatsMetrics metrics;
  stats::EventWriter writer(*store, {});
  stats::StatsApi api({}, *store, writer, metrics);
  RawDb db(path);

  const auto overview = json::parse(api.overview(get("/api/v1/overview")).body);
  EXPECT_EQ(overview["events"].get<std::int64_t>(),
            std::stoll(db.scalar("SELECT COUNT(*) FROM stats_events")));
  EXPECT_EQ(overview["detections"].get<std::int64_t>(),
            std::stoll(db.scalar("SELECT SUM(total_detections) FROM stats_events")));
  EXPECT_EQ(
      overview["sources"].get<std::int64_t>(),
      std::stoll(db.scalar("SELECT COUNT(*) FROM (SELECT DISTINCT source_id FROM stats_events)")));
  EXPECT_NEAR(overview["latency_ms"]["avg"].get<double>(),
              db.number("SELECT TOTAL(latency_ms) / COUNT(*) FROM stats_events"), 1e-9);
  EXPECT_DOUBLE_EQ(overview["latency_ms"]["max"].get<double>(),
                   db.number("SELECT MAX(latency_ms) FROM stats_events"));
  // Nearest-rank percentiles through a window function instead of LIMIT/OFFSET.
  for (auto [key, p] : {std::pair{"p50", 50}, std::pair{"p95", 95}}) {
    const double want = db.number(
        "WITH ranked AS (SELECT latency_ms, ROW_NUMBER() OVER (ORDER BY latency_ms) AS r, "
        "COUNT(*) OVER () AS n FROM stats_events) SELECT latency_ms FROM ranked WHERE r = (n * " +
        std::to_string(p) + " + 99) / 100");
    EXPECT_DOUBLE_EQ(overview["latency_ms"][key].get<double>(), want) << key;
  }
  EXPECT_EQ(overview["last_event"]["ts_utc"], db.scalar("SELECT MAX(ts_utc) FROM stats_events"));

  const auto filtered =
      json::parse(api.overview(get("/api/v1/overview", {{"source", "edge-002"},
                                                        {"from", "2025-03-01T11:00:00Z"},
                                                        {"to", "2025-03-01T12:30:00+00:00"},
                                                        {"min_detections", "2"}}))
                      .body);
  const std::string where =
      " WHERE source_id = 'edge-002' AND ts_utc >= '2025-03-01T11:00:00.000000Z' AND "
      "ts_utc < '2025-03-01T12:30:00.000000Z' AND total_detections >= 2";
  EXPECT_EQ(filtered["events"].get<std::int64_t>(),
            std::stoll(db.scalar("SELECT COUNT(*) FROM stats_events" + where)));
  EXPECT_EQ(filtered["detections"].get<std::int64_t>(),
            std::stoll(db.scalar("SELECT SUM(total_detections) FROM stats_events" + where)));

  const auto classes = json::parse(api.classes(get("/api/v1/classes")).body);
  for (const auto& c : classes["classes"]) {
    const std::string name = c["class_name"];
    EXPECT_EQ(c["detections"].get<std::int64_t>(),
              std::stoll(db.scalar("SELECT SUM(json_extract(counts_by_class, '$." + name +
                                   "')) FROM stats_events")))
        << name;
  }
  EXPECT_EQ(classes["total_detections"].get<std::int64_t>(),
            std::stoll(db.scalar("SELECT SUM(total_detections) FROM stats_events")));

  const auto sources = json::parse(api.sources(get("/api/v1/sources")).body);
  for (const auto& s : sources["sources"]) {
    const std::string id = s["source_id"];
    EXPECT_EQ(
        s["events"].get<std::int64_t>(),
        std::stoll(db.scalar("SELECT COUNT(*) FROM stats_events WHERE source_id = '" + id + "'")));
    EXPECT_EQ(s["last_ts_utc"],
              db.scalar("SELECT MAX(ts_utc) FROM stats_events WHERE source_id = '" + id + "'"));
  }

  const auto series =
      json::parse(api.timeseries(get("/api/v1/timeseries", {{"bucket", "5m"}})).body);
  std::int64_t sum = 0;
  for (const auto& p : series["points"]) {
    const std::string from = p["ts_utc"];
    const std::string to = vision::format_utc_micros((p["t"].get<std::int64_t>() + 300) * 1'000'000);
    EXPECT_EQ(p["events"].get<std::int64_t>(),
              std::stoll(db.scalar("SELECT COUNT(*) FROM stats_events WHERE ts_utc >= '" + from +
                                   "' AND ts_utc < '" + to + "'")))
        << from;
    sum += p["events"].get<std::int64_t>();
  }
  EXPECT_EQ(sum, 1234);

  const auto events = json::parse(
      api.events(get("/api/v1/events", {{"limit", "5"}, {"min_detections", "4"}})).body);
  ASSERT_EQ(events["events"].size(), 5U);
  EXPECT_EQ(events["events"][0]["id"].get<std::int64_t>(),
            std::stoll(db.scalar("SELECT MAX(id) FROM stats_events WHERE total_detections >= 4")));
}
