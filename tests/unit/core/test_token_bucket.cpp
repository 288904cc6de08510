// TokenBucket: the refill arithmetic the stats rate limiter and the LLM client's pacing share,
// on explicit times.
#include <gtest/gtest.h>

#include "vision/core/token_bucket.hpp"

using vision::TokenBucket;
using namespace std::chrono_literals;

TEST(TokenBucket, StartsFullAndRefillsAtItsRate) {
  const auto t0 = TokenBucket::Clock::now();
  TokenBucket bucket(2.0, 1.0, t0);
  EXPECT_TRUE(bucket.full(t0));
  EXPECT_TRUE(bucket.can_take(1, t0));
  bucket.take(1);
  EXPECT_FALSE(bucket.can_take(1, t0));
  EXPECT_NEAR(bucket.wait_seconds(1, t0), 0.5, 1e-9);
  EXPECT_NEAR(bucket.wait_seconds(1, t0 + 200ms), 0.3, 1e-9);
  EXPECT_EQ(bucket.wait_seconds(1, t0 + 500ms), 0.0);
  EXPECT_TRUE(bucket.can_take(1, t0 + 500ms));
}

TEST(TokenBucket, NeverHoldsMoreThanItsBurst) {
  const auto t0 = TokenBucket::Clock::now();
  TokenBucket bucket(10.0, 3.0, t0);
  bucket.take(3);
  EXPECT_TRUE(bucket.full(t0 + 10s));
  bucket.take(3);
  EXPECT_FALSE(bucket.can_take(1, t0 + 10s)) << "ten idle seconds bought three tokens, not a hundred";
}

TEST(TokenBucket, ALargeRequestPassesFromAFullBucketAndLeavesDebt) {
  const auto t0 = TokenBucket::Clock::now();
  TokenBucket bucket(1.0, 2.0, t0);
  EXPECT_TRUE(bucket.can_take(10, t0));
  bucket.take(10);
  EXPECT_NEAR(bucket.wait_seconds(1, t0), 9.0, 1e-9);
  EXPECT_NEAR(bucket.wait_seconds(10, t0), 10.0, 1e-9) << "waits for a full bucket, not for ten tokens of burst";
}
