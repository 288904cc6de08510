#include "postgres_store.hpp"

#include <pqxx/pqxx>

#include <optional>
#include <string>

#include "vision/core/secrets.hpp"

namespace vision::stats {

namespace {

// COLLATE "C": byte order, so canonical times sort as times and names sort like SQLite's.
constexpr const char* k_schema = R"sql(
SELECT pg_advisory_xact_lock(7797);
CREATE TABLE IF NOT EXISTS stats_events (
    id               BIGSERIAL PRIMARY KEY,
    source_id        TEXT COLLATE "C" NOT NULL,
    ts_utc           TEXT COLLATE "C" NOT NULL,
    total_detections BIGINT NOT NULL,
    counts_by_class  TEXT NOT NULL,
    latency_ms       DOUBLE PRECISION NOT NULL,
    ts_received_utc  TEXT COLLATE "C"
);
ALTER TABLE stats_events ADD COLUMN IF NOT EXISTS event_id TEXT COLLATE "C";
CREATE INDEX IF NOT EXISTS idx_stats_events_ts_utc ON stats_events(ts_utc);
CREATE INDEX IF NOT EXISTS idx_stats_events_source_id ON stats_events(source_id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_stats_events_event_id ON stats_events(source_id, event_id);
CREATE TABLE IF NOT EXISTS stats_dead_letters (
    id           BIGSERIAL PRIMARY KEY,
    received_utc TEXT NOT NULL,
    reason       TEXT NOT NULL,
    event        TEXT NOT NULL
);
)sql";

// COPY cannot skip a row that is already stored, so batches are copied into this per-session
// table (made once per writer connection) and moved on with ON CONFLICT DO NOTHING.
constexpr const char* k_incoming = R"sql(
CREATE TEMP TABLE IF NOT EXISTS stats_incoming (
    source_id TEXT, ts_utc TEXT, total_detections BIGINT, counts_by_class TEXT,
    latency_ms DOUBLE PRECISION, ts_received_utc TEXT, event_id TEXT
) ON COMMIT DELETE ROWS
)sql";

Error pg_error(const std::string& what, const std::exception& e) {
  std::string message = e.what();
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return Error{ErrorCode::io, "postgres: " + what + ": " + message};
}

class PgRow final : public RowView {
 public:
  explicit PgRow(const pqxx::row& row) : m_row(row) {}
  bool is_null(int c) const override { return m_row[c].is_null(); }
  std::int64_t integer(int c) const override {
    return m_row[c].is_null() ? 0 : m_row[c].as<std::int64_t>();
  }
  double real(int c) const override { return m_row[c].is_null() ? 0.0 : m_row[c].as<double>(); }
  std::string text(int c) const override {
    return m_row[c].is_null() ? std::string() : std::string(m_row[c].view());
  }

 private:
  const pqxx::row& m_row;
};

pqxx::params to_params(const std::vector<SqlValue>& values) {
  pqxx::params params;
  for (const auto& value : values) {
    std::visit([&params](const auto& v) { params.append(v); }, value);
  }
  return params;
}

}  // namespace

PostgresStore::PostgresStore(std::string url, int reader_connections)
    : SqlStatsStore(SqlDialect::postgres),
      m_url(std::move(url)),
      m_max_idle_readers(std::max(1, reader_connections)) {}

PostgresStore::~PostgresStore() = default;

std::string PostgresStore::location() const {
  return redact_url_secrets(m_url);
}

Expected<std::unique_ptr<PostgresStore>> PostgresStore::open(const std::string& url,
                                                             int reader_connections) {
  if (url.empty()) return fail(ErrorCode::config, "deploy.statistics.postgres_url is not set");
  std::unique_ptr<PostgresStore> store(new PostgresStore(url, reader_connections));
  std::lock_guard lock(store->m_writer_mutex);
  if (auto ok = store->ensure_writer(); !ok) return std::unexpected(ok.error());
  try {
    pqxx::work tx(*store->m_writer);
    tx.exec(k_schema);
    tx.commit();
  } catch (const std::exception& e) {
    return std::unexpected(pg_error("create schema at " + redact_url_secrets(url), e));
  }
  return store;
}

Expected<void> PostgresStore::ensure_writer() {
  if (m_writer && m_writer->is_open()) return {};
  try {
    m_writer = std::make_unique<pqxx::connection>(m_url);
    // The session table insert() copies into lives as long as this connection.
    pqxx::work tx(*m_writer);
    tx.exec(k_incoming);
    tx.commit();
  } catch (const std::exception& e) {
    m_writer.reset();
    return std::unexpected(pg_error("connect to " + redact_url_secrets(m_url), e));
  }
  return {};
}

Expected<void> PostgresStore::insert(std::span<const NewEvent> events) {
  if (events.empty()) return {};
  std::lock_guard lock(m_writer_mutex);
  if (auto ok = ensure_writer(); !ok) return ok;
  try {
    pqxx::work tx(*m_writer);
    // COPY is several times faster than INSERT for batches.
    auto stream = pqxx::stream_to::table(tx, {"stats_incoming"},
                                         {"source_id", "ts_utc", "total_detections", "counts_by_class",
                                          "latency_ms", "ts_received_utc", "event_id"});
    for (const auto& e : events) {
      stream.write_values(e.source_id, e.ts_utc, e.total_detections, e.counts_by_class, e.latency_ms,
                          e.ts_received_utc, e.event_id.empty() ? std::optional<std::string>() : e.event_id);
    }
    stream.complete();
    tx.exec(
        "INSERT INTO stats_events (source_id, ts_utc, total_detections, counts_by_class, latency_ms, ts_received_utc, "
        "event_id) SELECT source_id, ts_utc, total_detections, counts_by_class, latency_ms, ts_received_utc, event_id "
        "FROM stats_incoming ON CONFLICT DO NOTHING");
    tx.commit();
  } catch (const pqxx::broken_connection& e) {
    m_writer.reset();
    return std::unexpected(pg_error("insert", e));
  } catch (const pqxx::sql_error& e) {
    auto error = pg_error("insert", e);
    // SQLSTATE classes 22 (data exception) and 23 (constraint violation): the rows, not the database.
    if (e.sqlstate().starts_with("22") || e.sqlstate().starts_with("23")) error.code = ErrorCode::invalid_data;
    return std::unexpected(error);
  } catch (const std::exception& e) {
    return std::unexpected(pg_error("insert", e));
  }
  return {};
}

Expected<void> PostgresStore::insert_dead_letter(const NewEvent& event, const std::string& reason) {
  std::lock_guard lock(m_writer_mutex);
  if (auto ok = ensure_writer(); !ok) return ok;
  try {
    pqxx::work tx(*m_writer);
    // The reason may quote the refused value; NUL is the one byte a TEXT cannot hold.
    std::string clean = reason;
    std::erase(clean, '\0');
    tx.exec("INSERT INTO stats_dead_letters (received_utc, reason, event) VALUES ($1, $2, $3)",
            pqxx::params{event.ts_received_utc, clean, dead_letter_json(event)});
    tx.commit();
  } catch (const pqxx::broken_connection& e) {
    m_writer.reset();
    return std::unexpected(pg_error("dead letter", e));
  } catch (const std::exception& e) {
    return std::unexpected(pg_error("dead letter", e));
  }
  return {};
}

Expected<std::int64_t> PostgresStore::delete_before(const std::string& cutoff_utc) {
  std::lock_guard lock(m_writer_mutex);
  if (auto ok = ensure_writer(); !ok) return std::unexpected(ok.error());
  try {
    pqxx::work tx(*m_writer);
    const auto result =
        tx.exec("DELETE FROM stats_events WHERE ts_utc < $1", pqxx::params{cutoff_utc});
    tx.commit();
    return static_cast<std::int64_t>(result.affected_rows());
  } catch (const pqxx::broken_connection& e) {
    m_writer.reset();
    return std::unexpected(pg_error("delete old events", e));
  } catch (const std::exception& e) {
    return std::unexpected(pg_error("delete old events", e));
  }
}

Expected<void> PostgresStore::run(const SqlQuery& query,
                                  const std::function<void(const RowView&)>& on_row) {
  std::unique_ptr<pqxx::connection> connection;
  {
    std::lock_guard lock(m_readers_mutex);
    if (!m_idle_readers.empty()) {
      connection = std::move(m_idle_readers.back());
      m_idle_readers.pop_back();
    }
  }
  pqxx::result result;
  try {
    if (!connection || !connection->is_open())
      connection = std::make_unique<pqxx::connection>(m_url);
    pqxx::nontransaction tx(*connection);
    result = tx.exec(query.text, to_params(query.params));
  } catch (const std::exception& e) {
    // A broken or failed connection is not put back.
    return std::unexpected(pg_error("query", e));
  }
  {
    std::lock_guard lock(m_readers_mutex);
    if (static_cast<int>(m_idle_readers.size()) < m_max_idle_readers) {
      m_idle_readers.push_back(std::move(connection));
    }
  }
  for (const auto& row : result) on_row(PgRow(row));
  return {};
}

}  // namespace vision::stats
