// The statistics service facade (SPEC 10): the ingest/query API on api_port and the dashboard
// on ui_port, both bound to public_host, over one store and one writer thread. The CLI fills
// StatsServiceOptions from the config; this module never reads the config itself.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vision/core/error.hpp"
#include "vision/net/http_types.hpp"
#include "vision/stats/stats_store.hpp"

namespace vision::stats {

class EventWriter;
class StatsMetrics;

struct StatsServiceOptions {
  std::string public_host = "127.0.0.1";
  int api_port = 7797;  // 0: any free port
  int ui_port = 7796;   // 0: any free port
  StoreOptions store;
  std::string api_key;              // required on pushes when set
  std::string read_api_key;         // required on the read API and /metrics when set
  // deploy.statistics.ack: "commit" answers 200 once the events are committed (SQLite with
  // synchronous = FULL); "queue" once they are queued (faster, loses them on kill -9).
  bool ack_after_commit = true;
  std::vector<std::string> cors_origins;  // origins allowed to call the API from a page; empty = none
  double rate_limit_per_sec = 0.0;  // per source; 0 = off
  int retention_days = 0;           // 0 = keep everything
  double flush_interval_sec = 5.0;  // longest delay before an acknowledged event is committed
  bool insecure = false;            // allow a non-loopback public_host without api_key
  bool dashboard = true;            // serve the dashboard on ui_port
  int api_threads = 64;             // HTTP workers; an open keep-alive connection holds one
  int ui_threads = 16;
  std::size_t max_body_bytes = net::k_default_payload_max_bytes;  // 413 above this
  std::size_t max_queue_events = 200000;  // pushes wait, then get 503, when this many are queued
};

// Refuses (ErrorCode::config) a non-loopback public_host without api_key unless insecure.
Expected<void> check_exposure(const StatsServiceOptions& options);
// "http://host:port" with IPv6 brackets; 0.0.0.0 / :: become the loopback address.
std::string local_url(const std::string& host, int port);

class StatsService {
 public:
  // Opens the store, starts the writer and both servers.
  static Expected<std::unique_ptr<StatsService>> start(const StatsServiceOptions& options);
  ~StatsService();
  StatsService(const StatsService&) = delete;
  StatsService& operator=(const StatsService&) = delete;

  int api_port() const;
  int ui_port() const;  // 0 when the dashboard is off
  std::string api_url() const;
  std::string dashboard_url() const;

  // Stops both servers (requests in flight finish), commits every queued event and closes the
  // store. Idempotent.
  void stop();

  StatsStore& store();
  EventWriter& writer();
  StatsMetrics& metrics();

 private:
  struct Impl;
  explicit StatsService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

// Runs the service in the foreground until SIGINT/SIGTERM (vision::interrupt), then stops it
// cleanly. `on_ready` runs once both servers listen (e.g. to print the URLs).
Expected<void> serve(const StatsServiceOptions& options,
                     const std::function<void(const StatsService&)>& on_ready = {});

}  // namespace vision::stats
