// The nearest-rank percentile of latency reports.
#include <gtest/gtest.h>

#include "vision/core/percentile.hpp"

TEST(Percentile, NearestRank) {
  EXPECT_EQ(vision::percentile({}, 0.5), 0);
  EXPECT_EQ(vision::percentile({5, 1, 3}, 0.5), 3);
  EXPECT_EQ(vision::percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.95), 10);
  EXPECT_EQ(vision::percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.0), 1);
}
