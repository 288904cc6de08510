#include "sqlite_store.hpp"

#include <sqlite3.h>

#include <system_error>

namespace vision::stats {

namespace {

// page_size only takes effect on a new file. 4 KiB pages hold the ~100-byte rows with little
// slack. The synchronous level is set per store (see open).
constexpr const char* k_schema = R"sql(
PRAGMA page_size = 4096;
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS stats_dead_letters (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_utc TEXT NOT NULL,
    reason       TEXT NOT NULL,
    event        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stats_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id        TEXT    NOT NULL,
    ts_utc           TEXT    NOT NULL,
    total_detections INTEGER NOT NULL,
    counts_by_class  TEXT    NOT NULL,
    latency_ms       REAL    NOT NULL,
    ts_received_utc  TEXT,
    event_id         TEXT
);
)sql";

constexpr const char* k_indexes = R"sql(
CREATE INDEX IF NOT EXISTS idx_stats_events_ts_utc ON stats_events(ts_utc);
CREATE INDEX IF NOT EXISTS idx_stats_events_source_id ON stats_events(source_id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_stats_events_event_id ON stats_events(source_id, event_id);
)sql";

Error db_error(sqlite3* db, const std::string& what) {
  return Error{ErrorCode::io,
               "sqlite: " + what + ": " + (db ? sqlite3_errmsg(db) : "out of memory")};
}

Expected<void> exec(sqlite3* db, const char* sql, const std::string& what) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    return fail(ErrorCode::io, "sqlite: " + what + ": " + text);
  }
  return {};
}

Expected<sqlite3*> open_connection(const std::filesystem::path& path, bool create) {
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    auto error = db_error(db, "cannot open " + path.string());
    sqlite3_close(db);
    return std::unexpected(error);
  }
  // Readers and the writer share the file; wait for a lock instead of failing at once.
  sqlite3_busy_timeout(db, 10000);
  return db;
}

class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) {
    m_rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &m_stmt, nullptr);
  }
  ~Statement() { sqlite3_finalize(m_stmt); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return m_rc == SQLITE_OK; }
  sqlite3_stmt* get() const { return m_stmt; }

  void bind(int index, const SqlValue& value) {
    if (const auto* i = std::get_if<std::int64_t>(&value)) {
      sqlite3_bind_int64(m_stmt, index, *i);
    } else if (const auto* d = std::get_if<double>(&value)) {
      sqlite3_bind_double(m_stmt, index, *d);
    } else {
      const auto& s = std::get<std::string>(value);
      sqlite3_bind_text(m_stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
  }

 private:
  sqlite3_stmt* m_stmt = nullptr;
  int m_rc = SQLITE_ERROR;
};

class SqliteRow final : public RowView {
 public:
  explicit SqliteRow(sqlite3_stmt* stmt) : m_stmt(stmt) {}
  bool is_null(int c) const override { return sqlite3_column_type(m_stmt, c) == SQLITE_NULL; }
  std::int64_t integer(int c) const override { return sqlite3_column_int64(m_stmt, c); }
  double real(int c) const override { return sqlite3_column_double(m_stmt, c); }
  std::string text(int c) const override {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(m_stmt, c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(m_stmt, c))) : std::string();
  }

 private:
  sqlite3_stmt* m_stmt;
};

bool has_column(sqlite3* db, const char* table, const char* column) {
  Statement stmt(db, std::string("PRAGMA table_info(") + table + ")");
  if (!stmt.ok()) return false;
  while (sqlite3_step(stmt.get()) == SQLITE_ROW) {
    const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 1));
    if (name && std::string(name) == column) return true;
  }
  return false;
}

}  // namespace

SqliteStore::SqliteStore(std::filesystem::path path, int reader_connections)
    : SqlStatsStore(SqlDialect::sqlite),
      m_path(std::move(path)),
      m_max_idle_readers(std::max(1, reader_connections)) {}

SqliteStore::~SqliteStore() {
  for (sqlite3* db : m_idle_readers) sqlite3_close(db);
  // Closing the last connection checkpoints the WAL into the main file.
  if (m_writer) sqlite3_close(m_writer);
}

Expected<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::filesystem::path& path,
                                                         int reader_connections, bool durable) {
  if (path.empty()) return fail(ErrorCode::config, "deploy.statistics.db_path is not set");
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    return fail(ErrorCode::io,
                "cannot create the folder of " + path.string() + ": " + ec.message());
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, reader_connections));
  auto db = open_connection(path, true);
  if (!db) return std::unexpected(db.error());
  store->m_writer = *db;
  if (auto ok = exec(store->m_writer, k_schema, "create schema in " + path.string()); !ok) {
    return std::unexpected(ok.error());
  }
  // synchronous=FULL syncs the WAL at every commit, so an acknowledged event survives a power
  // loss (ack = "commit"); NORMAL survives process crashes only, and saves that fsync.
  if (auto ok = exec(store->m_writer, durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", "synchronous");
      !ok) {
    return std::unexpected(ok.error());
  }
  // Databases of the Python original lack ts_received_utc, older ones of Vision event_id; add
  // them in place.
  for (const char* column : {"ts_received_utc", "event_id"}) {
    if (has_column(store->m_writer, "stats_events", column)) continue;
    const std::string sql = std::string("ALTER TABLE stats_events ADD COLUMN ") + column + " TEXT";
    if (auto ok = exec(store->m_writer, sql.c_str(), std::string("add ") + column); !ok) return std::unexpected(ok.error());
  }
  if (auto ok = exec(store->m_writer, k_indexes, "create indexes"); !ok) {
    return std::unexpected(ok.error());
  }
  // A larger page cache for the writer keeps the index pages that inserts touch in memory, and
  // checkpointing every 32 MiB of WAL instead of 4 MiB means fewer fsyncs under load.
  exec(store->m_writer, "PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 8192",
       "writer pragmas");
  return store;
}

Expected<void> SqliteStore::insert(std::span<const NewEvent> events) {
  if (events.empty()) return {};
  std::lock_guard lock(m_writer_mutex);
  if (auto ok = exec(m_writer, "BEGIN IMMEDIATE", "begin"); !ok) return ok;
  Statement stmt(m_writer,
                 "INSERT OR IGNORE INTO stats_events (source_id, ts_utc, total_detections, counts_by_class, "
                 "latency_ms, ts_received_utc, event_id) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!stmt.ok()) {
    auto error = db_error(m_writer, "prepare insert");
    exec(m_writer, "ROLLBACK", "rollback");
    return std::unexpected(error);
  }
  for (const auto& e : events) {
    sqlite3_stmt* s = stmt.get();
    sqlite3_bind_text(s, 1, e.source_id.data(), static_cast<int>(e.source_id.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(s, 2, e.ts_utc.data(), static_cast<int>(e.ts_utc.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, e.total_detections);
    sqlite3_bind_text(s, 4, e.counts_by_class.data(), static_cast<int>(e.counts_by_class.size()),
                      SQLITE_STATIC);
    sqlite3_bind_double(s, 5, e.latency_ms);
    sqlite3_bind_text(s, 6, e.ts_received_utc.data(), static_cast<int>(e.ts_received_utc.size()),
                      SQLITE_STATIC);
    if (e.event_id.empty()) {
      sqlite3_bind_null(s, 7);  // NULLs never collide in the unique index
    } else {
      sqlite3_bind_text(s, 7, e.event_id.data(), static_cast<int>(e.event_id.size()), SQLITE_STATIC);
    }
    if (sqlite3_step(s) != SQLITE_DONE) {
      auto error = db_error(m_writer, "insert");
      // Refused because of this row's values (a constraint, a trigger, a type): not worth a retry.
      const int code = sqlite3_errcode(m_writer) & 0xff;
      if (code == SQLITE_CONSTRAINT || code == SQLITE_MISMATCH || code == SQLITE_TOOBIG || code == SQLITE_RANGE) {
        error.code = ErrorCode::invalid_data;
      }
      sqlite3_reset(s);
      exec(m_writer, "ROLLBACK", "rollback");
      return std::unexpected(error);
    }
    sqlite3_reset(s);
  }
  if (auto ok = exec(m_writer, "COMMIT", "commit"); !ok) {
    exec(m_writer, "ROLLBACK", "rollback");
    return ok;
  }
  return {};
}

Expected<void> SqliteStore::insert_dead_letter(const NewEvent& event, const std::string& reason) {
  std::lock_guard lock(m_writer_mutex);
  Statement stmt(m_writer, "INSERT INTO stats_dead_letters (received_utc, reason, event) VALUES (?, ?, ?)");
  if (!stmt.ok()) return std::unexpected(db_error(m_writer, "prepare dead letter"));
  const std::string json = dead_letter_json(event);
  sqlite3_stmt* s = stmt.get();
  sqlite3_bind_text(s, 1, event.ts_received_utc.data(), static_cast<int>(event.ts_received_utc.size()), SQLITE_STATIC);
  sqlite3_bind_text(s, 2, reason.data(), static_cast<int>(reason.size()), SQLITE_STATIC);
  sqlite3_bind_text(s, 3, json.data(), static_cast<int>(json.size()), SQLITE_STATIC);
  if (sqlite3_step(s) != SQLITE_DONE) return std::unexpected(db_error(m_writer, "dead letter"));
  return {};
}

Expected<std::int64_t> SqliteStore::delete_before(const std::string& cutoff_utc) {
  std::lock_guard lock(m_writer_mutex);
  // In slices, so a large purge never holds the write lock for long.
  std::int64_t total = 0;
  Statement stmt(m_writer,
                 "DELETE FROM stats_events WHERE id IN (SELECT id FROM stats_events "
                 "WHERE ts_utc < ? LIMIT 5000)");
  if (!stmt.ok()) return std::unexpected(db_error(m_writer, "prepare delete"));
  while (true) {
    stmt.bind(1, cutoff_utc);
    const int rc = sqlite3_step(stmt.get());
    sqlite3_reset(stmt.get());
    if (rc != SQLITE_DONE) return std::unexpected(db_error(m_writer, "delete old events"));
    const int changed = sqlite3_changes(m_writer);
    total += changed;
    if (changed == 0) break;
  }
  return total;
}

Expected<void> SqliteStore::checkpoint() {
  std::lock_guard lock(m_writer_mutex);
  return exec(m_writer, "PRAGMA wal_checkpoint(TRUNCATE)", "checkpoint");
}

Expected<sqlite3*> SqliteStore::acquire_reader() {
  {
    std::lock_guard lock(m_readers_mutex);
    if (!m_idle_readers.empty()) {
      sqlite3* db = m_idle_readers.back();
      m_idle_readers.pop_back();
      return db;
    }
  }
  auto db = open_connection(m_path, false);
  if (!db) return db;
  exec(*db, "PRAGMA query_only = ON", "query_only");
  return db;
}

void SqliteStore::release_reader(sqlite3* db) {
  std::lock_guard lock(m_readers_mutex);
  if (static_cast<int>(m_idle_readers.size()) < m_max_idle_readers) {
    m_idle_readers.push_back(db);
  } else {
    sqlite3_close(db);
  }
}

Expected<void> SqliteStore::run(const SqlQuery& query,
                                const std::function<void(const RowView&)>& on_row) {
  auto db = acquire_reader();
  if (!db) return std::unexpected(db.error());
  Expected<void> result;
  {
    Statement stmt(*db, query.text);
    if (!stmt.ok()) {
      result = std::unexpected(db_error(*db, "prepare query"));
    } else {
      for (size_t i = 0; i < query.params.size(); ++i)
        stmt.bind(static_cast<int>(i + 1), query.params[i]);
      SqliteRow row(stmt.get());
      int rc = SQLITE_ROW;
      while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) on_row(row);
      if (rc != SQLITE_DONE) result = std::unexpected(db_error(*db, "query"));
    }
  }
  release_reader(*db);
  return result;
}

}  // namespace vision::stats
