// RateLimiter: per-source token buckets, all-or-nothing over a batch.
#include <gtest/gtest.h>

#include "vision/stats/rate_limiter.hpp"

using vision::stats::RateLimiter;
using namespace std::chrono_literals;

TEST(RateLimiter, ZeroRateNeverLimits) {
  RateLimiter limiter(0.0);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.try_acquire({{"edge-001", 100}}));
}

TEST(RateLimiter, AllowsABurstOfOneSecondThenRefills) {
  RateLimiter limiter(5.0);
  const auto t0 = RateLimiter::Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.try_acquire({{"a", 1}}, t0)) << i;
  EXPECT_FALSE(limiter.try_acquire({{"a", 1}}, t0));
  EXPECT_TRUE(limiter.try_acquire({{"b", 1}}, t0)) << "buckets are per source";
  EXPECT_FALSE(limiter.try_acquire({{"a", 1}}, t0 + 100ms));
  EXPECT_TRUE(limiter.try_acquire({{"a", 1}}, t0 + 220ms)) << "one token after 1/5 s";
  EXPECT_FALSE(limiter.try_acquire({{"a", 1}}, t0 + 230ms));
}

TEST(RateLimiter, ABatchIsAllOrNothing) {
  RateLimiter limiter(2.0);
  const auto t0 = RateLimiter::Clock::now();
  EXPECT_TRUE(limiter.try_acquire({{"a", 2}}, t0));
  EXPECT_FALSE(limiter.try_acquire({{"a", 1}, {"b", 1}}, t0));
  EXPECT_TRUE(limiter.try_acquire({{"b", 2}}, t0)) << "b was not charged by the refused batch";
}

TEST(RateLimiter, ABatchLargerThanTheBurstPassesFromAFullBucketAndLeavesDebt) {
  RateLimiter limiter(10.0);
  const auto t0 = RateLimiter::Clock::now();
  EXPECT_TRUE(limiter.try_acquire({{"a", 50}}, t0));
  EXPECT_FALSE(limiter.try_acquire({{"a", 1}}, t0 + 3s)) << "40 tokens of debt, 30 refilled";
  EXPECT_TRUE(limiter.try_acquire({{"a", 1}}, t0 + 5s));
}

TEST(RateLimiter, FractionalRatesStillAllowOneEvent) {
  RateLimiter limiter(0.5);
  const auto t0 = RateLimiter::Clock::now();
  EXPECT_TRUE(limiter.try_acquire({{"a", 1}}, t0));
  EXPECT_FALSE(limiter.try_acquire({{"a", 1}}, t0 + 1s));
  EXPECT_TRUE(limiter.try_acquire({{"a", 1}}, t0 + 2s));
}
