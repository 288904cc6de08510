// SQLite storage: one file in WAL mode, one writer connection (used only by the EventWriter's
// thread) and a small pool of reader connections that never block the writer.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "sql_stats_store.hpp"

struct sqlite3;

namespace vision::stats {

class SqliteStore final : public SqlStatsStore {
 public:
  static Expected<std::unique_ptr<SqliteStore>> open(const std::filesystem::path& path,
                                                     int reader_connections, bool durable = false);
  ~SqliteStore() override;

  const char* kind() const override { return "sqlite"; }
  std::string location() const override { return m_path.string(); }
  Expected<void> insert(std::span<const NewEvent> events) override;
  Expected<void> insert_dead_letter(const NewEvent& event, const std::string& reason) override;
  Expected<std::int64_t> delete_before(const std::string& cutoff_utc) override;
  Expected<void> checkpoint() override;

 protected:
  Expected<void> run(const SqlQuery& query,
                     const std::function<void(const RowView&)>& on_row) override;

 private:
  explicit SqliteStore(std::filesystem::path path, int reader_connections);
  Expected<sqlite3*> acquire_reader();
  void release_reader(sqlite3* db);

  std::filesystem::path m_path;
  int m_max_idle_readers;
  std::mutex m_writer_mutex;
  sqlite3* m_writer = nullptr;
  std::mutex m_readers_mutex;
  std::vector<sqlite3*> m_idle_readers;
};

}  // namespace vision::stats
