#include "vision/stats/event_writer.hpp"

#include <pthread.h>

#include "vision/core/log.hpp"
#include "vision/core/timestamp.hpp"
#include "vision/stats/stats_metrics.hpp"

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

bool EventWriter::enqueue(std::vector<NewEvent>&& events, bool wait_for_commit) {
  const size_t n = events.size();
  if (n == 0) return true;
  {
    std::unique_lock lock(m_mutex);
    if (n > m_options.max_queue) return false;
    if (wait_for_commit && !m_thread.joinable()) return false;  // no writer, no commit to wait for
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
    if (wait_for_commit) {
      // Group commit: the writer takes everything queued as soon as anyone waits, so pushes that
      // arrive during one transaction share the next.
      const std::uint64_t ticket = m_enqueued;
      const std::uint64_t lost_before = m_lost;
      ++m_commit_waiters;
      m_wake.notify_one();
      m_committed.wait(lock, [&] { return m_done >= ticket || m_stopped; });
      --m_commit_waiters;
      return m_done >= ticket && m_lost == lost_before;
    }
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
  std::uint64_t done_before = 0, lost_before = 0;
  {
    std::lock_guard lock(m_mutex);
    if (m_stopped) return;
    m_stopping = true;
    done_before = m_done;
    lost_before = m_lost;
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
  const auto lost = m_lost - lost_before;
  log::info("statistics.writer.stopped",
            "committed " + std::to_string(m_done - done_before - lost) + " queued events at stop" +
                (lost > 0 ? "; " + std::to_string(lost) + " could not be committed" : ""),
            {{"committed_at_stop", m_done - done_before - lost}, {"lost_at_stop", lost}, {"committed_total", m_done - m_lost}});
}

std::size_t EventWriter::pending() const {
  std::lock_guard lock(m_mutex);
  return static_cast<std::size_t>(m_enqueued - m_done);
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

Expected<void> EventWriter::commit(std::span<const NewEvent> batch) {
  const auto started = Clock::now();
  auto ok = m_store.insert(batch);
  if (!ok) {
    if (m_metrics) ++m_metrics->write_errors;
    if (ok.error().code != ErrorCode::invalid_data) {
      log::error("statistics.store.write.failed", ok.error().message, {{"events", batch.size()}});
    }
    return ok;
  }
  if (m_metrics) {
    m_metrics->events_stored += batch.size();
    ++m_metrics->write_batches;
    m_metrics->write_batch_seconds.observe(Clock::now() - started);
  }
  log::debug("statistics.store.write", "committed a batch", {{"events", batch.size()}});
  return {};
}

std::size_t EventWriter::commit_isolating(std::span<const NewEvent> batch) {
  if (batch.empty()) return 0;
  auto ok = commit(batch);
  if (ok) return batch.size();
  if (ok.error().code != ErrorCode::invalid_data) return 0;  // the store itself: retry later
  if (batch.size() == 1) {
    if (!m_store.insert_dead_letter(batch.front(), ok.error().message)) return 0;
    if (m_metrics) ++m_metrics->dead_letters;
    log::warn("statistics.store.dead_letter", "the store refused an event; kept in stats_dead_letters: " + ok.error().message,
              {{"source_id", batch.front().source_id}});
    return 1;
  }
  const std::size_t half = batch.size() / 2;
  const std::size_t first = commit_isolating(batch.first(half));
  if (first < half) return first;
  return half + commit_isolating(batch.subspan(half));
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
        return m_stopping || m_flush_requested || m_space_waiters > 0 || m_commit_waiters > 0 ||
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
      std::size_t handled = commit_isolating(slice);
      // A failed commit is retried: the events were acknowledged and must not be lost.
      for (int attempt = 0; handled < slice.size(); ++attempt) {
        {
          std::unique_lock lock(m_mutex);
          if (m_stopping && attempt >= 3) break;
          m_wake.wait_for(lock, m_options.retry_delay, [&] { return m_stopping && attempt >= 3; });
        }
        handled += commit_isolating(slice.subspan(handled));
      }
      const bool ok = handled == slice.size();
      std::lock_guard lock(m_mutex);
      if (!ok) {
        const std::size_t remaining = batch.size() - offset;
        log::error("statistics.store.write.lost", "giving up on events after repeated failures",
                   {{"events", remaining - handled}});
        m_lost += remaining - handled;
        m_done += remaining;
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
