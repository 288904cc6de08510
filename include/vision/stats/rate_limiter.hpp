// Per-source token buckets for push rate limiting: each source may send `rate_per_sec` events
// per second on average, with bursts up to one second's worth (at least one event). A batch
// larger than the burst passes when the bucket is full and leaves it in debt.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "vision/core/token_bucket.hpp"

namespace vision::stats {

class RateLimiter {
 public:
  using Clock = TokenBucket::Clock;

  // 0 disables limiting.
  explicit RateLimiter(double rate_per_sec);

  bool enabled() const { return m_rate > 0.0; }
  // Takes `events_by_source[s]` tokens from each source's bucket, all or nothing: when any
  // source lacks tokens nothing is taken and the answer is false.
  bool try_acquire(const std::map<std::string, std::int64_t>& events_by_source,
                   Clock::time_point now = Clock::now());

 private:
  void forget_idle(Clock::time_point now);

  double m_rate;
  double m_burst;
  std::mutex m_mutex;
  std::unordered_map<std::string, TokenBucket> m_buckets;
};

}  // namespace vision::stats
