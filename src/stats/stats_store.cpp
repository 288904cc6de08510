#include "vision/stats/stats_store.hpp"

#include "sqlite_store.hpp"
#ifdef VISION_HAVE_PQXX
#include "postgres_store.hpp"
#endif

namespace vision::stats {

std::string redact_url(const std::string& url) {
  // Keyword form: "host=db password=secret dbname=x".
  if (const auto key = url.find("password=");
      key != std::string::npos && url.find("://") == std::string::npos) {
    const auto value = key + 9;
    const auto end = url.find(' ', value);
    return url.substr(0, value) + "***" + (end == std::string::npos ? "" : url.substr(end));
  }
  const auto scheme = url.find("://");
  const auto at = url.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme == std::string::npos || at == std::string::npos) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

Expected<std::unique_ptr<StatsStore>> open_store(const StoreOptions& options) {
  if (options.storage == "sqlite") {
    auto store = SqliteStore::open(options.db_path, options.reader_connections);
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
