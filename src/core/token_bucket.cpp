#include "vision/core/token_bucket.hpp"

#include <algorithm>

namespace vision {

TokenBucket::TokenBucket(double rate_per_sec, double burst, Clock::time_point now)
    : m_rate(std::max(0.0, rate_per_sec)), m_burst(std::max(0.0, burst)), m_tokens(m_burst), m_updated(now) {}

void TokenBucket::refill(Clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - m_updated).count();
  if (elapsed > 0) {
    m_tokens = std::min(m_burst, m_tokens + elapsed * m_rate);
    m_updated = now;
  }
}

bool TokenBucket::can_take(double n, Clock::time_point now) {
  refill(now);
  return m_tokens >= std::min(n, m_burst);
}

double TokenBucket::wait_seconds(double n, Clock::time_point now) {
  refill(now);
  const double missing = std::min(n, m_burst) - m_tokens;
  if (missing <= 0) return 0.0;
  return m_rate > 0 ? missing / m_rate : 0.0;
}

bool TokenBucket::full(Clock::time_point now) {
  refill(now);
  return m_tokens >= m_burst;
}

}  // namespace vision
