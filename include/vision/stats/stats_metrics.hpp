// Counters of the statistics service, exported at GET /metrics in the Prometheus text format.
// Lock-free: the push path only increments atomics.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace vision::stats {

// A fixed-bucket latency histogram (seconds).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> k_bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  void observe(std::chrono::nanoseconds duration);
  // Appends "_bucket", "_sum" and "_count" lines for `name`.
  void render(std::string& out, const std::string& name, const std::string& labels = "") const;
  std::uint64_t count() const { return m_count.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<std::uint64_t>, k_bounds.size()> m_buckets{};
  std::atomic<std::uint64_t> m_count{0};
  std::atomic<std::uint64_t> m_sum_ns{0};
};

enum class PushEndpoint { single = 0, batch = 1 };

class StatsMetrics {
 public:
  // Statuses a push can end with; anything else is counted as "other".
  static constexpr std::array<int, 7> k_statuses = {200, 400, 401, 413, 429, 500, 503};

  StatsMetrics();
  void count_push(PushEndpoint endpoint, int status, std::chrono::nanoseconds duration);

  std::atomic<std::uint64_t> events_accepted{0};  // acknowledged with 200 (queued)
  std::atomic<std::uint64_t> events_rejected{0};  // in requests answered 4xx/5xx
  std::atomic<std::uint64_t> events_stored{0};    // committed to the store
  std::atomic<std::uint64_t> events_deleted{0};   // removed by retention
  std::atomic<std::uint64_t> write_batches{0};
  std::atomic<std::uint64_t> write_errors{0};
  std::atomic<std::uint64_t> dead_letters{0};     // events the store refused, kept in stats_dead_letters
  std::atomic<std::int64_t> queue_depth{0};
  LatencyHistogram write_batch_seconds;

  std::uint64_t push_requests(PushEndpoint endpoint, int status) const;
  // The whole exposition, e.g. for GET /metrics.
  std::string render() const;

 private:
  static constexpr size_t k_slots = k_statuses.size() + 1;
  std::array<std::array<std::atomic<std::uint64_t>, k_slots>, 2> m_push_requests{};
  std::array<LatencyHistogram, 2> m_push_seconds;
  std::chrono::steady_clock::time_point m_started;
};

}  // namespace vision::stats
