#include "vision/stats/rate_limiter.hpp"

#include <algorithm>

namespace vision::stats {

namespace {
// Above this many sources, full (idle) buckets are dropped: a full bucket is the same as none.
constexpr size_t k_max_tracked_sources = 10000;
}  // namespace

RateLimiter::RateLimiter(double rate_per_sec)
    : m_rate(std::max(0.0, rate_per_sec)), m_burst(std::max(1.0, rate_per_sec)) {}

void RateLimiter::refill(Bucket& bucket, Clock::time_point now) const {
  const double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  if (elapsed > 0) {
    bucket.tokens = std::min(m_burst, bucket.tokens + elapsed * m_rate);
    bucket.updated = now;
  }
}

void RateLimiter::forget_idle(Clock::time_point now) {
  for (auto it = m_buckets.begin(); it != m_buckets.end();) {
    refill(it->second, now);
    it = it->second.tokens >= m_burst ? m_buckets.erase(it) : std::next(it);
  }
}

bool RateLimiter::try_acquire(const std::map<std::string, std::int64_t>& events_by_source,
                              Clock::time_point now) {
  if (!enabled()) return true;
  std::lock_guard lock(m_mutex);
  if (m_buckets.size() > k_max_tracked_sources) forget_idle(now);
  for (const auto& [source, n] : events_by_source) {
    auto [it, inserted] = m_buckets.try_emplace(source, Bucket{m_burst, now});
    if (!inserted) refill(it->second, now);
    // A batch larger than the burst is admitted from a full bucket and leaves it in debt, so
    // the average rate still holds and a backlog is never refused forever.
    if (it->second.tokens < std::min(static_cast<double>(n), m_burst)) return false;
  }
  for (const auto& [source, n] : events_by_source)
    m_buckets[source].tokens -= static_cast<double>(n);
  return true;
}

}  // namespace vision::stats
