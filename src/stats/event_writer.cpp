#include "vision/stats/event_writer.hpp"

#include <pthread.h>

#include "vision/core/log.hpp"
#include "vision/stats/stats_metrics.hpp"
#include "vision/stats/timestamp.hpp"

namespace vision::stats {

using Clock = std::chrono::steady_clock;

EventWriter::EventWriter(StatsStore& store, EventWriterOptions options, StatsMetrics* metrics)
    : m_store(store), m_options(options), m_metrics(metrics) {}

EventWriter::~EventWriter() {
  stop();
}

void EventWriter::start() {
  std::lock_guard lock(m_mutex);
  if (m_thread.joinable() || m_stopped) return;
  m_thread = std::thread([this] {
    pthread_setname_np(pthread_self(), "stats-writer");  // shows in top -H and gdb
    loop();
  });
}

bool EventWriter::enqueue(std::vector<NewEvent>&& events) {
  const size_t n = events.size();
  if (n == 0) return true;
  {
    std::unique_lock lock(m_mutex);
    if (n > m_options.max_queue) return false;
    if (m_queue.size() + n > m_options.max_queue) {
      // A waiting push makes the writer commit at once (see loop()).
      ++m_space_waiters;
      m_wake.notify_one();
      m_space.wait_for(lock, m_options.max_enqueue_wait,
                       [&] { return m_stopping || m_queue.size() + n <= m_options.max_queue; });
      --m_space_waiters;
    }
    if (m_stopping || m_queue.size() + n > m_options.max_queue) return false;
    const bool was_empty = m_queue.empty();
    if (was_empty) {
      m_oldest = Clock::now();
      m_queue = std::move(events);
    } else {
      m_queue.insert(m_queue.end(), std::make_move_iterator(events.begin()),
                     std::make_move_iterator(events.end()));
    }
    m_enqueued += n;
    if (m_metrics) m_metrics->queue_depth.store(static_cast<std::int64_t>(m_queue.size()));
    // Wake the writer when its deadline changes (first event) or a batch is full.
    if (!was_empty && m_queue.size() < m_options.max_batch) return true;
  }
  m_wake.notify_one();
  return true;
}

bool EventWriter::flush() {
  std::unique_lock lock(m_mutex);
  const std::uint64_t target = m_enqueued;
  const std::uint64_t lost_before = m_lost;
  if (m_done < target) {
    if (!m_thread.joinable()) return false;
    m_flush_requested = true;
    m_wake.notify_one();
    m_committed.wait(lock, [&] { return m_done >= target || m_stopped; });
  }
  return m_done >= target && m_lost == lost_before;
}

void EventWriter::stop() {
  std::lock_guard stop_lock(m_stop_mutex);
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_wake.notify_one();
  m_space.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  } else {
    loop();  // never started: commit what was queued on this thread
  }
  std::lock_guard lock(m_mutex);
  m_stopped = true;
  m_committed.notify_all();
}

std::size_t EventWriter::queued() const {
  std::lock_guard lock(m_mutex);
  return m_queue.size();
}

Expected<std::int64_t> EventWriter::apply_retention(std::int64_t now_micros) {
  if (m_options.retention_days <= 0) return 0;
  const std::int64_t cutoff =
      now_micros - static_cast<std::int64_t>(m_options.retention_days) * 86'400'000'000LL;
  auto deleted = m_store.delete_before(format_utc_micros(cutoff));
  if (!deleted) {
    log::warn("statistics.store.retention.failed", deleted.error().message);
    return deleted;
  }
  if (m_metrics) m_metrics->events_deleted += static_cast<std::uint64_t>(*deleted);
  if (*deleted > 0) {
    log::info("statistics.store.retention", "deleted events older than the retention period",
              {{"deleted", *deleted}, {"retention_days", m_options.retention_days}});
  }
  return deleted;
}

bool EventWriter::commit(std::span<const NewEvent> batch) {
  const auto started = Clock::now();
  auto ok = m_store.insert(batch);
  if (!ok) {
    if (m_metrics) ++m_metrics->write_errors;
    log::error("statistics.store.write.failed", ok.error().message, {{"events", batch.size()}});
    return false;
  }
  if (m_metrics) {
    m_metrics->events_stored += batch.size();
    ++m_metrics->write_batches;
    m_metrics->write_batch_seconds.observe(Clock::now() - started);
  }
  log::debug("statistics.store.write", "committed a batch", {{"events", batch.size()}});
  return true;
}

void EventWriter::loop() {
  const auto flush_interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(std::max(0.0, m_options.flush_interval_sec)));
  auto next_retention = Clock::now();
  std::vector<NewEvent> batch;
  while (true) {
    if (m_options.retention_days > 0 && Clock::now() >= next_retention) {
      apply_retention(now_utc_micros());
      next_retention = Clock::now() + m_options.retention_interval;
    }
    bool stopping = false;
    {
      std::unique_lock lock(m_mutex);
      auto ready = [&] {
        return m_stopping || m_flush_requested || m_space_waiters > 0 ||
               m_queue.size() >= m_options.max_batch ||
               (!m_queue.empty() && Clock::now() >= m_oldest + flush_interval);
      };
      while (!ready()) {
        auto until =
            m_queue.empty() ? Clock::now() + std::chrono::seconds(1) : m_oldest + flush_interval;
        if (m_options.retention_days > 0) until = std::min(until, next_retention);
        if (m_wake.wait_until(lock, until) == std::cv_status::timeout && m_queue.empty()) break;
      }
      stopping = m_stopping;
      m_flush_requested = false;
      batch.swap(m_queue);
      m_queue.clear();
      if (m_metrics) m_metrics->queue_depth.store(0);
    }
    m_space.notify_all();
    // One transaction per slice: long enough to amortise the commit, short enough that
    // progress (and /metrics) moves steadily while a large backlog drains.
    for (size_t offset = 0; offset < batch.size();) {
      const auto slice = std::span<const NewEvent>(batch).subspan(
          offset, std::min(m_options.max_transaction, batch.size() - offset));
      bool ok = commit(slice);
      // A failed commit is retried: the events were acknowledged and must not be lost.
      for (int attempt = 0; !ok; ++attempt) {
        {
          std::unique_lock lock(m_mutex);
          if (m_stopping && attempt >= 3) break;
          m_wake.wait_for(lock, m_options.retry_delay, [&] { return m_stopping && attempt >= 3; });
        }
        ok = commit(slice);
      }
      std::lock_guard lock(m_mutex);
      if (!ok) {
        log::error("statistics.store.write.lost", "giving up on events after repeated failures",
                   {{"events", batch.size() - offset}});
        m_lost += batch.size() - offset;
        m_done += batch.size() - offset;
        break;
      }
      m_done += slice.size();
      offset += slice.size();
      m_committed.notify_all();
    }
    batch.clear();
    m_committed.notify_all();
    if (stopping) {
      std::lock_guard lock(m_mutex);
      if (m_queue.empty()) break;
    }
  }
}

}  // namespace vision::stats
