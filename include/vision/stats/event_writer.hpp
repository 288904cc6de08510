// The single writer of the store. HTTP threads hand it validated events through a queue; this
// thread commits them in batched transactions — as soon as `max_batch` events wait, a push
// waits for its commit (ack = "commit": group commit, everything queued goes in one
// transaction), or `flush_interval_sec` after the oldest one arrived — and applies the retention
// setting. A full queue slows pushes down before it refuses them. A batch the store refuses
// because of its data is split until the poison event is found; that one goes to the
// dead-letter table with the reason, the rest commits. stop() commits everything still queued.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "vision/stats/stats_store.hpp"

namespace vision::stats {

class StatsMetrics;

struct EventWriterOptions {
  double flush_interval_sec = 5.0;      // longest time an acknowledged event waits for its commit
  std::size_t max_batch = 4096;         // commit at once when this many events wait
  std::size_t max_transaction = 16384;  // a larger backlog is committed in slices of this size
  std::size_t max_queue = 200000;       // at most this many events wait for the writer
  // A push that finds the queue full waits this long for room (back-pressure through latency)
  // before it is refused (503).
  std::chrono::milliseconds max_enqueue_wait{5000};
  int retention_days = 0;  // delete events older than this; 0 keeps everything
  std::chrono::seconds retention_interval{3600};
  std::chrono::seconds retry_delay{1};  // after a failed commit
};

class EventWriter {
 public:
  EventWriter(StatsStore& store, EventWriterOptions options, StatsMetrics* metrics = nullptr);
  ~EventWriter();  // stop()
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  void start();
  // Queues the events (all or none), waiting up to max_enqueue_wait while the queue is full;
  // false when there is still no room, or the writer stopped. With `wait_for_commit` it returns
  // once the transaction holding them has committed (or they went to the dead-letter table),
  // and false when that failed.
  bool enqueue(std::vector<NewEvent>&& events, bool wait_for_commit = false);
  // Blocks until every event queued before the call is committed; false when a commit failed
  // or the writer stopped first.
  bool flush();
  // Commits what is queued (retrying a failed commit a few times) and ends the thread.
  void stop();
  std::size_t queued() const;
  // Events queued or in the transaction being committed: acknowledged in queue mode, not yet stored.
  std::size_t pending() const;
  // Runs retention now (also done every retention_interval); returns how many were deleted.
  Expected<std::int64_t> apply_retention(std::int64_t now_micros);

 private:
  void loop();
  Expected<void> commit(std::span<const NewEvent> batch);
  // Commits `batch`, isolating poison events into the dead-letter table; returns how many
  // events from its start are done (committed or dead-lettered). Less than all: the store
  // itself failed, and the rest is retried later.
  std::size_t commit_isolating(std::span<const NewEvent> batch);

  StatsStore& m_store;
  EventWriterOptions m_options;
  StatsMetrics* m_metrics;

  std::mutex m_stop_mutex;
  mutable std::mutex m_mutex;
  std::condition_variable m_wake;       // the writer waits on this
  std::condition_variable m_committed;  // flush() waits on this
  std::condition_variable m_space;      // enqueue() waits on this while the queue is full
  std::vector<NewEvent> m_queue;
  std::chrono::steady_clock::time_point m_oldest;  // arrival of the oldest queued event
  std::uint64_t m_enqueued = 0;                    // events ever queued
  std::uint64_t m_done = 0;                        // events ever committed or given up
  std::uint64_t m_lost = 0;                        // events given up after repeated failed commits
  int m_space_waiters = 0;                         // pushes waiting for room in the queue
  int m_commit_waiters = 0;                        // pushes waiting for their commit
  bool m_flush_requested = false;
  bool m_stopping = false;
  bool m_stopped = false;
  std::thread m_thread;
};

}  // namespace vision::stats
