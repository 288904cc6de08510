#include "vision/stats/rate_limiter.hpp"

#include <algorithm>

namespace vision::stats {

namespace {
// Above this many sources, full (idle) buckets are dropped: a full bucket is the same as none.
constexpr size_t k_max_tracked_sources = 10000;
}  // namespace

RateLimiter::RateLimiter(double rate_per_sec)
    : m_rate(std::max(0.0, rate_per_sec)), m_burst(std::max(1.0, rate_per_sec)) {}

void RateLimiter::forget_idle(Clock::time_point now) {
  for (auto it = m_buckets.begin(); it != m_buckets.end();) {
    it = it->second.full(now) ? m_buckets.erase(it) : std::next(it);
  }
}

bool RateLimiter::try_acquire(const std::map<std::string, std::int64_t>& events_by_source,
                              Clock::time_point now) {
  if (!enabled()) return true;
  std::lock_guard lock(m_mutex);
  if (m_buckets.size() > k_max_tracked_sources) forget_idle(now);
  for (const auto& [source, n] : events_by_source) {
    auto it = m_buckets.try_emplace(source, m_rate, m_burst, now).first;
    if (!it->second.can_take(static_cast<double>(n), now)) return false;
  }
  for (const auto& [source, n] : events_by_source) m_buckets.at(source).take(static_cast<double>(n));
  return true;
}

}  // namespace vision::stats
