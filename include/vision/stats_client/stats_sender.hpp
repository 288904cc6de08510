// Delivery of StatsEvents to the statistics service without ever blocking the frame loop or
// losing an event: `enqueue` gives the event an event_id, appends it to runs/<run_id>/stats.jsonl
// and to the durable spool (stats_spool.hpp) at once, and a background thread posts batches
// (POST <endpoint>/batch, or one event per POST when the service has no batch endpoint),
// retrying with exponential back-off while the service is down and sending the backlog when it
// returns. What is undelivered when the process ends (or is killed) is sent by the next sender
// of the same spool, first; the service stores each event_id once. Used by the edge runner and
// the remote server, whose default endpoint is a local service that may not run: stopping
// never waits for a service that cannot be reached when the spool keeps its events.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vision/core/contracts.hpp"
#include "vision/core/error.hpp"

namespace vision {

// Sends one JSON body; the HTTP status, or an error when no answer came back.
class StatsTransport {
 public:
  virtual ~StatsTransport() = default;
  virtual Expected<int> post_json(const std::string& url, const std::string& body) = 0;
};

struct StatsSenderOptions {
  std::string endpoint;             // ".../api/v1/push"; empty: keep events in stats.jsonl only
  std::filesystem::path jsonl_path;  // every event is appended here first
  int batch_max = 500;
  double retry_initial_sec = 0.25;
  double retry_max_sec = 5.0;
  // How long stop() keeps trying to deliver the backlog; with a spool, a service that cannot be
  // reached at all gets one last attempt instead, and the spool keeps the rest.
  double drain_timeout_sec = 5.0;
  // The durable queue (<root>/stats/spool/<source_id>); empty: undelivered events live in
  // memory only (and in stats.jsonl).
  std::filesystem::path spool_dir;
  std::uint64_t spool_max_bytes = 64ULL << 20;
};

struct StatsSenderCounts {
  std::int64_t queued = 0;   // events enqueued
  std::int64_t sent = 0;     // acknowledged by the service
  std::int64_t pending = 0;  // not delivered yet (still in the spool and stats.jsonl)
  std::int64_t failed = 0;   // rejected by the service as invalid (400); not retried
  std::int64_t evicted = 0;  // dropped from a full spool, oldest first
  std::int64_t replayed = 0;  // found undelivered in the spool at start
};

class StatsSender {
 public:
  StatsSender(StatsSenderOptions options, std::unique_ptr<StatsTransport> transport);
  ~StatsSender();
  StatsSender(const StatsSender&) = delete;
  StatsSender& operator=(const StatsSender&) = delete;

  // Opens stats.jsonl and the spool (whose undelivered events go first) and starts the thread.
  Expected<void> start();
  // Thread-safe; never waits for the network.
  void enqueue(const StatsEvent& event);
  // Delivers what it can within drain_timeout_sec, then stops the thread. Idempotent.
  void stop();
  StatsSenderCounts counts() const;
  // False when the endpoint is empty and events stay in stats.jsonl.
  bool pushes() const noexcept { return !m_options.endpoint.empty(); }

 private:
  enum class Delivery { progressed, unreachable, retry_later };
  void loop();
  // Tries to deliver the front of the queue: unreachable when no answer came back, retry_later
  // when the service answered but took nothing (429, 5xx).
  Delivery deliver_some();
  // The oldest `max` undelivered events, and dropping the first `count` of them.
  std::vector<std::string> front(std::size_t max);
  void drop_front(std::size_t count);
  std::size_t backlog() const;

  StatsSenderOptions m_options;
  std::unique_ptr<StatsTransport> m_transport;
  int m_jsonl_fd = -1;
  std::thread m_thread;
  mutable std::mutex m_mutex;
  std::condition_variable m_wake;
  std::deque<std::string> m_queue;  // serialised events, when there is no spool
  std::unique_ptr<class StatsSpool> m_spool;
  std::string m_id_prefix;          // event_id = <prefix>-<n>: random per start, unique per source
  std::int64_t m_next_id = 0;
  bool m_stopping = false;
  bool m_batch_supported = true;    // false once the service showed it has no batch endpoint
  std::size_t m_singles_left = 0;   // after a refused batch: send these one by one, then batch again
  std::atomic<std::int64_t> m_queued{0};
  std::atomic<std::int64_t> m_sent{0};
  std::atomic<std::int64_t> m_failed{0};
};

// The batch URL for a push URL: ".../push" → ".../push/batch"; empty when there is none.
std::string batch_endpoint_for(const std::string& push_endpoint);

}  // namespace vision
