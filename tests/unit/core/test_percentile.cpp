// The one percentile rule (textbook nearest rank): the edge report, the benchmarks, the export
// report and the statistics stores all read latencies through it.
#include <gtest/gtest.h>

#include "vision/core/percentile.hpp"

TEST(NearestRank, IsTheCeilingOfQTimesNAtLeastOne) {
  struct Case {
    std::size_t n;
    double q;
    std::size_t rank;
  };
  for (const auto& c : std::vector<Case>{{1, 0.0, 1},    {1, 0.5, 1},    {1, 1.0, 1},   {2, 0.5, 1},
                                         {2, 0.95, 2},   {3, 0.5, 2},    {4, 0.5, 2},   {4, 0.75, 3},
                                         {10, 0.0, 1},   {10, 0.95, 10}, {10, 1.0, 10}, {20, 0.95, 19},
                                         {100, 0.07, 7}, {100, 0.5, 50}, {101, 0.5, 51}, {997, 0.95, 948}}) {
    EXPECT_EQ(vision::nearest_rank(c.n, c.q), c.rank) << "n=" << c.n << " q=" << c.q;
  }
}

TEST(Percentile, ReadsTheValueAtTheNearestRank) {
  EXPECT_EQ(vision::percentile({}, 0.5), 0);
  EXPECT_EQ(vision::percentile({10, 20}, 0.5), 10);  // rank ceil(0.5 * 2) = 1, not the upper one
  EXPECT_EQ(vision::percentile({20, 10}, 0.95), 20);
  EXPECT_EQ(vision::percentile({7}, 0.0), 7);
  EXPECT_EQ(vision::percentile({7}, 0.5), 7);
  EXPECT_EQ(vision::percentile({7}, 1.0), 7);
  EXPECT_EQ(vision::percentile({5, 1, 3}, 0.5), 3);
  EXPECT_EQ(vision::percentile({4, 3, 2, 1}, 0.5), 2);  // q·n whole: rank 2 exactly
  EXPECT_EQ(vision::percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.95), 10);
  EXPECT_EQ(vision::percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.0), 1);
  EXPECT_EQ(vision::percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 1.0), 10);
}
