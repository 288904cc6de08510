#include "vision/stats/stats_store.hpp"

#include "sqlite_store.hpp"
#ifdef VISION_HAVE_PQXX
#include "postgres_store.hpp"
#endif

namespace vision::stats {

Expected<std::unique_ptr<StatsStore>> open_store(const StoreOptions& options) {
  if (options.storage == "sqlite") {
    auto store = SqliteStore::open(options.db_path, options.reader_connections, options.durable);
    if (!store) return std::unexpected(store.error());
    return std::unique_ptr<StatsStore>(std::move(*store));
  }
  if (options.storage == "postgres") {
#ifdef VISION_HAVE_PQXX
    auto store = PostgresStore::open(options.postgres_url, options.reader_connections);
    if (!store) return std::unexpected(store.error());
    return std::unique_ptr<StatsStore>(std::move(*store));
#else
    return fail(
        ErrorCode::not_in_build,
        "storage = \"postgres\" needs libpqxx, which this build of Vision was made without");
#endif
  }
  return fail(ErrorCode::config, "deploy.statistics.storage = \"" + options.storage +
                                     "\": must be sqlite or postgres");
}

}  // namespace vision::stats
