#include "sql_stats_store.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "vision/core/percentile.hpp"

namespace vision::stats {

SqlBuilder& SqlBuilder::sql(std::string_view text) {
  m_text += text;
  return *this;
}

SqlBuilder& SqlBuilder::param(SqlValue value) {
  m_params.push_back(std::move(value));
  m_text += m_dialect == SqlDialect::sqlite ? "?" : "$" + std::to_string(m_params.size());
  return *this;
}

SqlBuilder& SqlBuilder::where(const EventFilter& filter, std::string_view extra,
                              const std::vector<SqlValue>& extra_params) {
  bool first = true;
  auto next = [&] {
    m_text += first ? " WHERE " : " AND ";
    first = false;
  };
  if (!filter.source_id.empty()) {
    next();
    sql("source_id = ").param(filter.source_id);
  }
  if (!filter.from_utc.empty()) {
    next();
    sql("ts_utc >= ").param(filter.from_utc);
  }
  if (!filter.to_utc.empty()) {
    next();
    sql("ts_utc < ").param(filter.to_utc);
  }
  if (filter.min_detections > 0) {
    next();
    sql("total_detections >= ").param(filter.min_detections);
  }
  if (!extra.empty()) {
    next();
    // `extra` uses '?' for its parameters; rewrite them for the dialect.
    size_t used = 0;
    for (const char c : extra) {
      if (c == '?' && used < extra_params.size()) {
        param(extra_params[used++]);
      } else {
        m_text.push_back(c);
      }
    }
  }
  return *this;
}

StoredEvent read_event(const RowView& row) {
  StoredEvent e;
  e.id = row.integer(0);
  e.source_id = row.text(1);
  e.ts_utc = row.text(2);
  e.total_detections = row.integer(3);
  e.counts_by_class = row.text(4);
  e.latency_ms = row.real(5);
  e.ts_received_utc = row.text(6);
  e.event_id = row.text(7);
  return e;
}

std::string dead_letter_json(const NewEvent& e) {
  nlohmann::json j = {{"source_id", e.source_id},       {"event_id", e.event_id},
                      {"ts_utc", e.ts_utc},             {"total_detections", e.total_detections},
                      {"counts_by_class", e.counts_by_class}, {"latency_ms", e.latency_ms},
                      {"ts_received_utc", e.ts_received_utc}};
  return j.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
}

Expected<std::int64_t> SqlStatsStore::count_rows(std::string_view table) {
  std::int64_t n = 0;
  auto ok = run(builder().sql("SELECT COUNT(*) FROM ").sql(table).build(), [&](const RowView& row) { n = row.integer(0); });
  if (!ok) return std::unexpected(ok.error());
  return n;
}

Expected<std::int64_t> SqlStatsStore::count() { return count_rows("stats_events"); }

Expected<std::int64_t> SqlStatsStore::dead_letter_count() { return count_rows("stats_dead_letters"); }

Expected<Overview> SqlStatsStore::overview(const EventFilter& filter) {
  Overview o;
  auto totals = builder()
                    .sql(
                        "SELECT COUNT(*), SUM(total_detections), AVG(latency_ms), MAX(latency_ms), "
                        "COUNT(DISTINCT source_id), MIN(ts_utc), MAX(ts_utc) FROM stats_events")
                    .where(filter)
                    .build();
  auto ok = run(totals, [&](const RowView& row) {
    o.events = row.integer(0);
    o.detections = row.integer(1);
    o.avg_latency_ms = row.real(2);
    o.max_latency_ms = row.real(3);
    o.sources = row.integer(4);
    o.first_ts_utc = row.text(5);
    o.last_ts_utc = row.text(6);
  });
  if (!ok) return std::unexpected(ok.error());
  if (o.events == 0) return o;

  // vision::nearest_rank picks the row, read with an ordered OFFSET, so both databases give
  // exactly what vision::percentile gives for the same latencies.
  for (auto [q, out] : {std::pair{0.5, &o.p50_latency_ms}, std::pair{0.95, &o.p95_latency_ms}}) {
    const auto rank = static_cast<std::int64_t>(nearest_rank(static_cast<std::size_t>(o.events), q));
    auto query = builder()
                     .sql("SELECT latency_ms FROM stats_events")
                     .where(filter)
                     .sql(" ORDER BY latency_ms LIMIT 1 OFFSET ")
                     .param(rank - 1)
                     .build();
    ok = run(query, [out](const RowView& row) { *out = row.real(0); });
    if (!ok) return std::unexpected(ok.error());
  }

  auto last = builder()
                  .sql("SELECT ")
                  .sql(k_event_columns)
                  .sql(" FROM stats_events")
                  .where(filter)
                  .sql(" ORDER BY ts_utc DESC, id DESC LIMIT 1")
                  .build();
  ok = run(last, [&](const RowView& row) { o.last_event = read_event(row); });
  if (!ok) return std::unexpected(ok.error());
  return o;
}

Expected<EventPage> SqlStatsStore::events(const EventFilter& filter, int limit,
                                          std::optional<std::int64_t> before_id) {
  EventPage page;
  limit = std::max(1, limit);
  auto b = builder();
  b.sql("SELECT ").sql(k_event_columns).sql(" FROM stats_events");
  if (before_id) {
    b.where(filter, "id < ?", {*before_id});
  } else {
    b.where(filter);
  }
  b.sql(" ORDER BY id DESC LIMIT ").param(static_cast<std::int64_t>(limit) + 1);
  auto ok = run(std::move(b).build(),
                [&](const RowView& row) { page.events.push_back(read_event(row)); });
  if (!ok) return std::unexpected(ok.error());
  if (page.events.size() > static_cast<size_t>(limit)) {
    page.events.resize(static_cast<size_t>(limit));
    page.next_cursor = page.events.back().id;
  }
  return page;
}

Expected<std::vector<ClassTotal>> SqlStatsStore::class_totals(const EventFilter& filter) {
  std::vector<ClassTotal> totals;
  auto b = builder();
  if (b.dialect() == SqlDialect::sqlite) {
    b.sql(
         "SELECT j.key, SUM(j.value), SUM(CASE WHEN j.value > 0 THEN 1 ELSE 0 END) "
         "FROM (SELECT counts_by_class FROM stats_events")
        .where(filter)
        .sql(") AS e, json_each(e.counts_by_class) AS j GROUP BY j.key");
  } else {
    b.sql(
         "SELECT j.key COLLATE \"C\", SUM(j.value::bigint)::bigint, "
         "SUM(CASE WHEN j.value::bigint > 0 THEN 1 ELSE 0 END)::bigint "
         "FROM (SELECT counts_by_class FROM stats_events")
        .where(filter)
        .sql(") AS e, json_each_text(e.counts_by_class::json) AS j GROUP BY j.key");
  }
  b.sql(" ORDER BY 2 DESC, 1");
  auto ok = run(std::move(b).build(), [&](const RowView& row) {
    totals.push_back({row.text(0), row.integer(1), row.integer(2)});
  });
  if (!ok) return std::unexpected(ok.error());
  return totals;
}

Expected<std::vector<SourceSummary>> SqlStatsStore::sources(const EventFilter& filter) {
  std::vector<SourceSummary> out;
  auto b = builder();
  b.sql(b.dialect() == SqlDialect::sqlite
            ? "SELECT source_id, COUNT(*), SUM(total_detections), "
            : "SELECT source_id, COUNT(*), SUM(total_detections)::bigint, ")
      .sql("AVG(latency_ms), MAX(latency_ms), MIN(ts_utc), MAX(ts_utc) FROM stats_events")
      .where(filter)
      .sql(" GROUP BY source_id ORDER BY 2 DESC, 1");
  auto ok = run(std::move(b).build(), [&](const RowView& row) {
    out.push_back({row.text(0), row.integer(1), row.integer(2), row.real(3), row.real(4),
                   row.text(5), row.text(6)});
  });
  if (!ok) return std::unexpected(ok.error());
  return out;
}

Expected<std::vector<SeriesPoint>> SqlStatsStore::time_series(const EventFilter& filter,
                                                              int bucket_seconds) {
  std::vector<SeriesPoint> out;
  if (bucket_seconds <= 0) return fail(ErrorCode::invalid_data, "bucket: must be > 0 seconds");
  const auto width = static_cast<std::int64_t>(bucket_seconds);
  auto b = builder();
  // The first 19 characters of a canonical ts_utc are "YYYY-MM-DDTHH:MM:SS" in UTC.
  if (b.dialect() == SqlDialect::sqlite) {
    b.sql("SELECT (unixepoch(substr(ts_utc, 1, 19)) / ")
        .param(width)
        .sql(") * ")
        .param(width)
        .sql(
            " AS bucket, COUNT(*), SUM(total_detections), AVG(latency_ms), MAX(latency_ms) "
            "FROM stats_events");
  } else {
    b.sql("SELECT (floor(extract(epoch from substr(ts_utc, 1, 19)::timestamp) / ")
        .param(width)
        .sql(") * ")
        .param(width)
        .sql(
            ")::bigint AS bucket, COUNT(*), SUM(total_detections)::bigint, AVG(latency_ms), "
            "MAX(latency_ms) FROM stats_events");
  }
  b.where(filter).sql(" GROUP BY bucket ORDER BY bucket");
  auto ok = run(std::move(b).build(), [&](const RowView& row) {
    out.push_back({row.integer(0), row.integer(1), row.integer(2), row.real(3), row.real(4)});
  });
  if (!ok) return std::unexpected(ok.error());
  return out;
}

}  // namespace vision::stats
