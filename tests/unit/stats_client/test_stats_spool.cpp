// The durable spool of undelivered StatsEvents: replay after a restart, acknowledgement, a torn
// or damaged record skipped (and only that one), and the byte cap.
#include <gtest/gtest.h>

#include <fstream>

#include "helpers/test_support.hpp"
#include "vision/stats_client/stats_spool.hpp"

namespace fs = std::filesystem;
using vision::test::TempDir;

namespace {

std::unique_ptr<vision::StatsSpool> open_spool(const fs::path& dir, std::uint64_t max_bytes = 64ULL << 20,
                                               std::uint64_t segment_bytes = 4ULL << 20) {
  auto spool = vision::StatsSpool::open({.dir = dir, .max_bytes = max_bytes, .segment_bytes = segment_bytes});
  EXPECT_TRUE(spool) << spool.error().message;
  return spool ? std::move(*spool) : nullptr;
}

std::string record(int i) { return R"({"source_id":"cam","event_id":"e-)" + std::to_string(i) + R"("})"; }

fs::path only_segment(const fs::path& dir) {
  fs::path found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".seg") found = entry.path();
  }
  return found;
}

}  // namespace

TEST(StatsSpool, UndeliveredRecordsAreReplayedAfterARestart) {
  TempDir dir;
  {
    auto spool = open_spool(dir.path());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(spool->append(record(i)));
    ASSERT_TRUE(spool->sync());
    EXPECT_EQ(spool->peek(3), (std::vector<std::string>{record(0), record(1), record(2)}));
    ASSERT_TRUE(spool->acknowledge(4));
  }  // a kill -9 here loses nothing: every append was one write()
  auto again = open_spool(dir.path());
  EXPECT_EQ(again->recovery().records, 6);
  EXPECT_EQ(again->recovery().skipped, 0);
  EXPECT_EQ(again->pending(), 6U);
  EXPECT_EQ(again->peek(1).front(), record(4));
  ASSERT_TRUE(again->append(record(10)));
  ASSERT_TRUE(again->acknowledge(7));
  EXPECT_EQ(again->pending(), 0U);
  EXPECT_EQ(open_spool(dir.path())->pending(), 0U);
}

TEST(StatsSpool, ATornLastRecordIsSkippedAndSaidSo) {
  TempDir dir;
  {
    auto spool = open_spool(dir.path());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(spool->append(record(i)));
  }
  const fs::path segment = only_segment(dir.path());
  fs::resize_file(segment, fs::file_size(segment) - 7);  // the last write cut in the middle
  {
    auto spool = open_spool(dir.path());
    EXPECT_EQ(spool->recovery().records, 4);
    EXPECT_EQ(spool->recovery().skipped, 1);
    EXPECT_EQ(spool->peek(10).back(), record(3));
    ASSERT_TRUE(spool->append(record(5)));  // appended after the last good record
  }
  auto again = open_spool(dir.path());
  EXPECT_EQ(again->recovery().skipped, 0);
  EXPECT_EQ(again->peek(10), (std::vector<std::string>{record(0), record(1), record(2), record(3), record(5)}));
}

TEST(StatsSpool, ADamagedRecordIsSkippedAndItsNeighboursKept) {
  TempDir dir;
  {
    auto spool = open_spool(dir.path());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(spool->append(record(i)));
  }
  const fs::path segment = only_segment(dir.path());
  std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(static_cast<std::streamoff>(8 + record(0).size() + 8 + 5));  // inside the second payload
  file.put('#');
  file.close();
  auto spool = open_spool(dir.path());
  EXPECT_EQ(spool->recovery().skipped, 1);
  EXPECT_EQ(spool->peek(10), (std::vector<std::string>{record(0), record(2)}));
}

TEST(StatsSpool, BeyondItsCapTheOldestSegmentsAreDroppedAndCounted) {
  TempDir dir;
  auto spool = open_spool(dir.path(), 16 * 1024, 4 * 1024);
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(spool->append(record(i)));
  EXPECT_GT(spool->evicted(), 0);
  EXPECT_EQ(static_cast<std::int64_t>(spool->pending()) + spool->evicted(), 2000);
  EXPECT_EQ(spool->peek(2000).back(), record(1999)) << "the newest are kept";
  std::uint64_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (entry.path().extension() == ".seg") bytes += entry.file_size();
  }
  EXPECT_LE(bytes, 16U * 1024 + 4U * 1024);
}

TEST(StatsSpool, FoldersAreNamedSafelyAfterTheSource) {
  EXPECT_EQ(vision::spool_dir_for("/w", "edge-001"), fs::path("/w/stats/spool/edge-001"));
  EXPECT_EQ(vision::spool_dir_for("/w", "../../etc"), fs::path("/w/stats/spool/.._.._etc"));
  EXPECT_EQ(vision::spool_dir_for("/w", ".."), fs::path("/w/stats/spool/_"));
}
