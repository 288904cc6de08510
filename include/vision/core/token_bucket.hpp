// A token bucket: `rate_per_sec` tokens a second on average, holding at most `burst`. The stats
// service keeps one per source to refuse pushes; the LLM client keeps one per run to pace its
// requests. Not thread-safe: its owner locks.
#pragma once

#include <chrono>

namespace vision {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // Starts full at `now`.
  TokenBucket(double rate_per_sec, double burst, Clock::time_point now = Clock::now());

  // True when `n` tokens can be taken at `now`. A request larger than the burst is admitted
  // from a full bucket (and leaves it in debt), so the average rate holds and a large batch is
  // never refused forever.
  bool can_take(double n, Clock::time_point now);
  // Takes `n` tokens, into debt when there are fewer.
  void take(double n) { m_tokens -= n; }
  // Seconds until can_take(n) holds; 0 when it holds now.
  double wait_seconds(double n, Clock::time_point now);
  bool full(Clock::time_point now);

 private:
  void refill(Clock::time_point now);

  double m_rate;
  double m_burst;
  double m_tokens;
  Clock::time_point m_updated;
};

}  // namespace vision
