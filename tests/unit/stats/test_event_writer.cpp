// EventWriter: batched commits within the flush interval, nothing lost on stop, retries after
// failed commits, retention.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <thread>

#include "helpers/test_support.hpp"
#include "store_conformance.hpp"
#include "vision/core/timestamp.hpp"
#include "vision/stats/event_writer.hpp"
#include "vision/stats/stats_metrics.hpp"

using namespace vision;
using namespace std::chrono_literals;
using vision::test::sample_events;
using vision::test::TempDir;

namespace {

std::unique_ptr<stats::StatsStore> open_sqlite(const TempDir& dir) {
  auto store = stats::open_store({.storage = "sqlite", .db_path = dir / "stats.db"});
  EXPECT_TRUE(store) << store.error().message;
  return std::move(*store);
}

// Records batches; fails the first `failures` inserts.
class FakeStore final : public stats::StatsStore {
 public:
  explicit FakeStore(int failures) : m_failures(failures) {}
  const char* kind() const override { return "fake"; }
  std::string location() const override { return "memory"; }
  Expected<void> insert(std::span<const stats::NewEvent> events) override {
    std::lock_guard lock(m_mutex);
    if (m_failures > 0) {
      --m_failures;
      ++attempts_failed;
      return fail(ErrorCode::io, "disk full");
    }
    batches.push_back(events.size());
    stored += static_cast<std::int64_t>(events.size());
    return {};
  }
  Expected<void> insert_dead_letter(const stats::NewEvent&, const std::string&) override { return {}; }
  Expected<std::int64_t> dead_letter_count() override { return 0; }
  Expected<std::int64_t> delete_before(const std::string&) override { return 0; }
  Expected<std::int64_t> count() override {
    std::lock_guard lock(m_mutex);
    return stored;
  }
  Expected<stats::Overview> overview(const stats::EventFilter&) override {
    return stats::Overview{};
  }
  Expected<stats::EventPage> events(const stats::EventFilter&, int,
                                    std::optional<std::int64_t>) override {
    return stats::EventPage{};
  }
  Expected<std::vector<stats::ClassTotal>> class_totals(const stats::EventFilter&) override {
    return {};
  }
  Expected<std::vector<stats::SourceSummary>> sources(const stats::EventFilter&) override {
    return {};
  }
  Expected<std::vector<stats::SeriesPoint>> time_series(const stats::EventFilter&, int) override {
    return {};
  }

  std::vector<size_t> batches;
  std::int64_t stored = 0;
  int attempts_failed = 0;

 private:
  std::mutex m_mutex;
  int m_failures;
};

bool wait_for_count(stats::StatsStore& store, std::int64_t want, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (*store.count() == want) return true;
    std::this_thread::sleep_for(10ms);
  }
  return *store.count() == want;
}

}  // namespace

TEST(EventWriter, CommitsWithinTheFlushInterval) {
  TempDir dir;
  auto store = open_sqlite(dir);
  stats::EventWriter writer(*store, {.flush_interval_sec = 0.1});
  writer.start();
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(writer.enqueue(sample_events(3)));
  EXPECT_TRUE(wait_for_count(*store, 3, 3s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(EventWriter, AFullBatchIsCommittedWithoutWaitingForTheInterval) {
  TempDir dir;
  auto store = open_sqlite(dir);
  stats::EventWriter writer(*store, {.flush_interval_sec = 60, .max_batch = 100});
  writer.start();
  ASSERT_TRUE(writer.enqueue(sample_events(150)));
  EXPECT_TRUE(wait_for_count(*store, 150, 5s));
}

TEST(EventWriter, StopCommitsEverythingStillQueued) {
  TempDir dir;
  auto store = open_sqlite(dir);
  stats::StatsMetrics metrics;
  {
    stats::EventWriter writer(*store, {.flush_interval_sec = 3600}, &metrics);
    writer.start();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(writer.enqueue(sample_events(50)));
    EXPECT_EQ(writer.queued(), 1000U);
    writer.stop();
    EXPECT_FALSE(writer.enqueue(sample_events(1))) << "a stopped writer refuses new events";
  }
  EXPECT_EQ(*store->count(), 1000);
  EXPECT_EQ(metrics.events_stored.load(), 1000U);
}

TEST(EventWriter, StopWithoutStartStillCommits) {
  TempDir dir;
  auto store = open_sqlite(dir);
  stats::EventWriter writer(*store, {});
  ASSERT_TRUE(writer.enqueue(sample_events(7)));
  writer.stop();
  EXPECT_EQ(*store->count(), 7);
}

TEST(EventWriter, FlushBlocksUntilCommitted) {
  TempDir dir;
  auto store = open_sqlite(dir);
  stats::EventWriter writer(*store, {.flush_interval_sec = 3600});
  writer.start();
  ASSERT_TRUE(writer.enqueue(sample_events(42)));
  EXPECT_TRUE(writer.flush());
  EXPECT_EQ(*store->count(), 42);
  EXPECT_TRUE(writer.flush()) << "nothing queued: returns at once";
}

TEST(EventWriter, RefusesEventsBeyondTheQueueLimit) {
  FakeStore store(0);
  stats::EventWriter writer(
      store,
      {.flush_interval_sec = 3600, .max_batch = 1000, .max_queue = 10, .max_enqueue_wait = 0ms});
  EXPECT_TRUE(writer.enqueue(sample_events(8)));
  EXPECT_FALSE(writer.enqueue(sample_events(3))) << "all or nothing";
  EXPECT_TRUE(writer.enqueue(sample_events(2)));
  EXPECT_FALSE(writer.enqueue(sample_events(11))) << "never fits";
  writer.stop();
  EXPECT_EQ(store.stored, 10);
}

TEST(EventWriter, AFullQueueMakesThePushWaitForACommitInsteadOfFailing) {
  FakeStore store(0);
  stats::EventWriter writer(store,
                            {.flush_interval_sec = 3600, .max_batch = 1000, .max_queue = 10});
  writer.start();
  EXPECT_TRUE(writer.enqueue(sample_events(8)));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(writer.enqueue(sample_events(5))) << "the writer commits at once for a waiting push";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  writer.stop();
  EXPECT_EQ(store.stored, 13);
}

TEST(EventWriter, RetriesAFailedCommitUntilItSucceeds) {
  FakeStore store(2);
  stats::StatsMetrics metrics;
  stats::EventWriter writer(
      store, {.flush_interval_sec = 0.01, .retry_delay = std::chrono::seconds(0)}, &metrics);
  writer.start();
  ASSERT_TRUE(writer.enqueue(sample_events(5)));
  EXPECT_TRUE(writer.flush());
  EXPECT_EQ(store.stored, 5);
  EXPECT_EQ(store.attempts_failed, 2);
  EXPECT_EQ(metrics.write_errors.load(), 2U);
}

TEST(EventWriter, RetentionDeletesEventsOlderThanTheSetting) {
  TempDir dir;
  auto store = open_sqlite(dir);
  const std::int64_t now = vision::now_utc_micros();
  std::vector<stats::NewEvent> events = sample_events(4);
  events[0].ts_utc = vision::format_utc_micros(now - 40LL * 86'400'000'000LL);
  events[1].ts_utc = vision::format_utc_micros(now - 31LL * 86'400'000'000LL);
  events[2].ts_utc = vision::format_utc_micros(now - 29LL * 86'400'000'000LL);
  events[3].ts_utc = vision::format_utc_micros(now);
  ASSERT_TRUE(store->insert(events));
  stats::EventWriter keep_all(*store, {.retention_days = 0});
  EXPECT_EQ(*keep_all.apply_retention(now), 0);
  EXPECT_EQ(*store->count(), 4);
  stats::EventWriter writer(*store, {.retention_days = 30});
  EXPECT_EQ(*writer.apply_retention(now), 2);
  EXPECT_EQ(*store->count(), 2);
}

TEST(EventWriter, RetentionRunsWhenTheWriterStarts) {
  TempDir dir;
  auto store = open_sqlite(dir);
  auto events = sample_events(3);
  for (auto& e : events) e.ts_utc = "2001-01-01T00:00:00.000000Z";
  ASSERT_TRUE(store->insert(events));
  stats::EventWriter writer(*store, {.retention_days = 1});
  writer.start();
  EXPECT_TRUE(wait_for_count(*store, 0, 3s));
}

TEST(EventWriter, ALargeBacklogIsCommittedInSlices) {
  FakeStore store(0);
  stats::EventWriter writer(
      store, {.flush_interval_sec = 3600, .max_batch = 100000, .max_transaction = 1000});
  ASSERT_TRUE(writer.enqueue(sample_events(2500)));
  writer.stop();
  EXPECT_EQ(store.batches, (std::vector<size_t>{1000, 1000, 500}));
}

// A batch the store refuses because of one event (here a trigger, as a constraint would) is
// split until that event is found: it goes to stats_dead_letters with the reason, the rest
// commits, and the writer goes on.
TEST(EventWriter, APoisonEventGoesToTheDeadLettersAndTheRestCommits) {
  TempDir dir;
  auto store = open_sqlite(dir);
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "stats.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TRIGGER reject_poison BEFORE INSERT ON stats_events WHEN NEW.source_id = 'poison' "
                           "BEGIN SELECT RAISE(ABORT, 'poison event'); END",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  stats::StatsMetrics metrics;
  stats::EventWriter writer(*store, {.flush_interval_sec = 3600}, &metrics);
  writer.start();
  auto events = vision::test::sample_events(9);
  events[2].source_id = "poison";
  events[7].source_id = "poison";
  ASSERT_TRUE(writer.enqueue(std::vector(events), /*wait_for_commit=*/true));
  EXPECT_EQ(*store->count(), 7);
  EXPECT_EQ(*store->dead_letter_count(), 2);
  EXPECT_EQ(metrics.dead_letters.load(), 2U);
  ASSERT_TRUE(writer.enqueue(vision::test::sample_events(3), true)) << "pushes keep working";
  EXPECT_EQ(*store->count(), 10);
  writer.stop();
}

// ack = "commit": enqueue returns once the events are in the store, without waiting for the
// flush interval (an hour here).
TEST(EventWriter, WaitingForTheCommitReturnsOnceTheEventsAreStored) {
  TempDir dir;
  auto store = open_sqlite(dir);
  stats::EventWriter writer(*store, {.flush_interval_sec = 3600});
  writer.start();
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(writer.enqueue(vision::test::sample_events(5), true));
  EXPECT_EQ(*store->count(), 100);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  stats::EventWriter stopped(*store, {});
  EXPECT_FALSE(stopped.enqueue(vision::test::sample_events(1), true)) << "no writer thread: nothing would commit";
  writer.stop();
}
