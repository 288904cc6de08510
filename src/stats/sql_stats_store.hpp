// The read queries both SQL stores share. The SQL text is written once here with the few
// dialect differences (placeholders, JSON expansion, bucket arithmetic) picked by SqlDialect;
// each store only runs statements and exposes rows through RowView. Private to src/stats.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "vision/stats/stats_store.hpp"

namespace vision::stats {

enum class SqlDialect { sqlite, postgres };

using SqlValue = std::variant<std::int64_t, double, std::string>;

struct SqlQuery {
  std::string text;
  std::vector<SqlValue> params;
};

// Appends SQL and parameters, writing "?" (SQLite) or "$n" (PostgreSQL) placeholders.
class SqlBuilder {
 public:
  explicit SqlBuilder(SqlDialect dialect) : m_dialect(dialect) {}
  SqlBuilder& sql(std::string_view text);
  SqlBuilder& param(SqlValue value);
  // " WHERE …" for the filter (nothing when it filters nothing); `extra` is ANDed in.
  SqlBuilder& where(const EventFilter& filter, std::string_view extra = {},
                    const std::vector<SqlValue>& extra_params = {});
  SqlQuery build() { return {std::move(m_text), std::move(m_params)}; }
  SqlDialect dialect() const { return m_dialect; }

 private:
  SqlDialect m_dialect;
  std::string m_text;
  std::vector<SqlValue> m_params;
};

class RowView {
 public:
  virtual ~RowView() = default;
  virtual bool is_null(int column) const = 0;
  virtual std::int64_t integer(int column) const = 0;  // 0 for NULL
  virtual double real(int column) const = 0;           // 0 for NULL
  virtual std::string text(int column) const = 0;      // "" for NULL
};

// Column list of StoredEvent, in the order read_event expects.
inline constexpr const char* k_event_columns =
    "id, source_id, ts_utc, total_detections, counts_by_class, latency_ms, ts_received_utc, event_id";

// A refused event as the dead-letter table keeps it: JSON with every byte escaped, so that a
// value the events table refused (a NUL in PostgreSQL) is stored all the same.
std::string dead_letter_json(const NewEvent& event);
StoredEvent read_event(const RowView& row);

class SqlStatsStore : public StatsStore {
 public:
  Expected<std::int64_t> count() override;
  Expected<std::int64_t> dead_letter_count() override;
  Expected<Overview> overview(const EventFilter& filter) override;
  Expected<EventPage> events(const EventFilter& filter, int limit,
                             std::optional<std::int64_t> before_id) override;
  Expected<std::vector<ClassTotal>> class_totals(const EventFilter& filter) override;
  Expected<std::vector<SourceSummary>> sources(const EventFilter& filter) override;
  Expected<std::vector<SeriesPoint>> time_series(const EventFilter& filter,
                                                 int bucket_seconds) override;

 protected:
  explicit SqlStatsStore(SqlDialect dialect) : m_dialect(dialect) {}
  // Runs one read statement on a reader connection, calling `on_row` per row.
  virtual Expected<void> run(const SqlQuery& query,
                             const std::function<void(const RowView&)>& on_row) = 0;
  SqlBuilder builder() const { return SqlBuilder(m_dialect); }
  Expected<std::int64_t> count_rows(std::string_view table);

 private:
  SqlDialect m_dialect;
};

}  // namespace vision::stats
