// Where statistics events live: the `stats_events` table of SPEC 10 in SQLite (one file, WAL)
// or PostgreSQL (fleets). Both stores answer the same queries with the same numbers; the
// EventWriter is the only caller of insert / delete_before, the API the only reader.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vision/core/error.hpp"

namespace vision::stats {

// One row as written. ts_utc and ts_received_utc are canonical (see timestamp.hpp);
// counts_by_class is compact JSON text ({"car":1,"person":2}).
struct NewEvent {
  std::string source_id;
  std::string ts_utc;
  std::int64_t total_detections = 0;
  std::string counts_by_class = "{}";
  double latency_ms = 0.0;
  std::string ts_received_utc;
  std::string event_id;  // empty: none; else unique per source, a second copy is not stored
};

struct StoredEvent : NewEvent {
  std::int64_t id = 0;
};

// What every read query can be narrowed to. Empty / zero fields do not filter.
struct EventFilter {
  std::string source_id;
  std::string from_utc;  // canonical, inclusive
  std::string to_utc;    // canonical, exclusive
  std::int64_t min_detections = 0;
};

struct Overview {
  std::int64_t events = 0;
  std::int64_t detections = 0;
  std::int64_t sources = 0;
  double avg_latency_ms = 0.0;
  // Nearest-rank percentiles, as vision::percentile (vision/core/percentile.hpp) reads them.
  double p50_latency_ms = 0.0;
  double p95_latency_ms = 0.0;
  double max_latency_ms = 0.0;
  std::string first_ts_utc;
  std::string last_ts_utc;
  std::optional<StoredEvent> last_event;  // latest ts_utc (then highest id)
};

struct EventPage {
  std::vector<StoredEvent> events;          // newest id first
  std::optional<std::int64_t> next_cursor;  // pass as `before_id` for the next page
};

struct ClassTotal {
  std::string class_name;
  std::int64_t detections = 0;  // sum of the class's counts
  std::int64_t events = 0;      // events where it appears with a count > 0
};

struct SourceSummary {
  std::string source_id;
  std::int64_t events = 0;
  std::int64_t detections = 0;
  double avg_latency_ms = 0.0;
  double max_latency_ms = 0.0;
  std::string first_ts_utc;
  std::string last_ts_utc;
};

struct SeriesPoint {
  std::int64_t bucket_start = 0;  // Unix seconds, a multiple of the bucket width
  std::int64_t events = 0;
  std::int64_t detections = 0;
  double avg_latency_ms = 0.0;
  double max_latency_ms = 0.0;
};

class StatsStore {
 public:
  virtual ~StatsStore() = default;

  virtual const char* kind() const = 0;      // "sqlite" | "postgres"
  virtual std::string location() const = 0;  // db_path, or the URL without its password

  // All events in one transaction: all stored or none. An event whose (source_id, event_id)
  // is already stored is skipped, so a redelivered event is stored once. A failure caused by
  // the data (a value the database refuses) is ErrorCode::invalid_data; one of the database
  // itself (unreachable, disk full, locked) is ErrorCode::io and worth retrying.
  virtual Expected<void> insert(std::span<const NewEvent> events) = 0;
  // Keeps an event the store refused (a poison event) with the reason, in stats_dead_letters.
  virtual Expected<void> insert_dead_letter(const NewEvent& event, const std::string& reason) = 0;
  virtual Expected<std::int64_t> dead_letter_count() = 0;
  // Deletes events with ts_utc < cutoff (canonical); returns how many.
  virtual Expected<std::int64_t> delete_before(const std::string& cutoff_utc) = 0;
  virtual Expected<std::int64_t> count() = 0;

  virtual Expected<Overview> overview(const EventFilter& filter) = 0;
  // Newest first; `before_id` continues a previous page.
  virtual Expected<EventPage> events(const EventFilter& filter, int limit,
                                     std::optional<std::int64_t> before_id) = 0;
  // Largest first.
  virtual Expected<std::vector<ClassTotal>> class_totals(const EventFilter& filter) = 0;
  // Most events first.
  virtual Expected<std::vector<SourceSummary>> sources(const EventFilter& filter) = 0;
  // Buckets that hold events, oldest first.
  virtual Expected<std::vector<SeriesPoint>> time_series(const EventFilter& filter,
                                                         int bucket_seconds) = 0;
  // Moves the WAL into the database file (SQLite); a no-op elsewhere.
  virtual Expected<void> checkpoint() { return {}; }
};

struct StoreOptions {
  std::string storage = "sqlite";  // sqlite | postgres
  std::filesystem::path db_path;   // sqlite
  std::string postgres_url;        // postgres
  bool durable = false;            // SQLite: synchronous = FULL, an fsync per commit (ack = "commit")
  int reader_connections = 4;      // read connections kept open for the API threads
};

// Opens (creating the table and indexes when missing) the configured store.
Expected<std::unique_ptr<StatsStore>> open_store(const StoreOptions& options);

}  // namespace vision::stats
