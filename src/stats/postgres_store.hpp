// PostgreSQL storage for fleets: the same stats_events table and queries as SQLite, over
// libpqxx. One writer connection (EventWriter thread) streams batches with COPY; readers come
// from a small pool. Broken connections are reopened on the next call.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sql_stats_store.hpp"

namespace pqxx {
class connection;
}

namespace vision::stats {

class PostgresStore final : public SqlStatsStore {
 public:
  static Expected<std::unique_ptr<PostgresStore>> open(const std::string& url,
                                                       int reader_connections);
  ~PostgresStore() override;

  const char* kind() const override { return "postgres"; }
  std::string location() const override;
  Expected<void> insert(std::span<const NewEvent> events) override;
  Expected<void> insert_dead_letter(const NewEvent& event, const std::string& reason) override;
  Expected<std::int64_t> delete_before(const std::string& cutoff_utc) override;

 protected:
  Expected<void> run(const SqlQuery& query,
                     const std::function<void(const RowView&)>& on_row) override;

 private:
  PostgresStore(std::string url, int reader_connections);
  Expected<void> ensure_writer();

  std::string m_url;
  int m_max_idle_readers;
  std::mutex m_writer_mutex;
  std::unique_ptr<pqxx::connection> m_writer;
  std::mutex m_readers_mutex;
  std::vector<std::unique_ptr<pqxx::connection>> m_idle_readers;
};

}  // namespace vision::stats
