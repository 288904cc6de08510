// The store conformance suite of store_conformance.hpp, run against each storage backend.
#include "store_conformance.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>

#include <nlohmann/json.hpp>

#include "helpers/test_support.hpp"
#include "vision/core/percentile.hpp"
#include "vision/core/timestamp.hpp"

namespace vision::test {

using stats::EventFilter;
using stats::NewEvent;
using stats::StatsStore;

std::vector<NewEvent> sample_events(int count) {
  const std::int64_t base = *vision::parse_utc_micros("2025-03-01T10:00:00Z");
  const char* sources[] = {"edge-001", "edge-002", "remote-001"};
  std::vector<NewEvent> events;
  for (int i = 0; i < count; ++i) {
    NewEvent e;
    e.source_id = sources[(i * 7) % 3];
    // Spread over 3 hours, deliberately not in arrival order.
    const std::int64_t offset_s = (static_cast<std::int64_t>(i) * 7919) % (3 * 3600);
    e.ts_utc = vision::format_utc_micros(base + offset_s * 1'000'000 + (i % 1000) * 37);
    const int person = i % 4, car = (i / 3) % 3, dog = i % 11 == 0 ? 1 : 0;
    nlohmann::json counts = nlohmann::json::object();
    if (person) counts["person"] = person;
    if (car) counts["car"] = car;
    if (dog) counts["dog"] = dog;
    if (i % 13 == 0) counts["cat"] = 0;  // a class listed with a zero count
    e.counts_by_class = counts.dump();
    e.total_detections = person + car + dog;
    e.latency_ms = 5.0 + (i % 17) * 1.25 + (i % 50 == 0 ? 400.0 : 0.0);
    e.ts_received_utc = vision::format_utc_micros(base + 4 * 3600 * 1'000'000LL + i);
    events.push_back(std::move(e));
  }
  return events;
}

namespace {

struct Want {
  std::int64_t events = 0, detections = 0;
  double avg = 0, p50 = 0, p95 = 0, max = 0;
  std::set<std::string> sources;
};

bool matches(const NewEvent& e, const EventFilter& f) {
  if (!f.source_id.empty() && e.source_id != f.source_id) return false;
  if (!f.from_utc.empty() && e.ts_utc < f.from_utc) return false;
  if (!f.to_utc.empty() && e.ts_utc >= f.to_utc) return false;
  return e.total_detections >= f.min_detections;
}

Want expect(const std::vector<NewEvent>& all, const EventFilter& f) {
  Want x;
  std::vector<double> latencies;
  for (const auto& e : all) {
    if (!matches(e, f)) continue;
    ++x.events;
    x.detections += e.total_detections;
    latencies.push_back(e.latency_ms);
    x.sources.insert(e.source_id);
  }
  if (latencies.empty()) return x;
  x.avg = std::accumulate(latencies.begin(), latencies.end(), 0.0) /
          static_cast<double>(latencies.size());
  x.p50 = percentile(latencies, 0.5);
  x.p95 = percentile(latencies, 0.95);
  x.max = std::ranges::max(latencies);
  return x;
}

class Fixture {
 public:
  explicit Fixture(const StoreBackend& backend) {
    store = backend.open_empty(dir.path(), skip_reason);
  }
  TempDir dir;
  std::string skip_reason;
  std::unique_ptr<StatsStore> store;
};

#define OPEN_STORE_OR_SKIP(f)                  \
  Fixture f(GetParam());                       \
  if (!f.store) GTEST_SKIP() << f.skip_reason; \
  StatsStore& store = *f.store

}  // namespace

TEST_P(StoreConformance, AnEmptyStoreAnswersZeros) {
  OPEN_STORE_OR_SKIP(f);
  EXPECT_EQ(*store.count(), 0);
  const auto o = *store.overview({});
  EXPECT_EQ(o.events, 0);
  EXPECT_EQ(o.detections, 0);
  EXPECT_EQ(o.avg_latency_ms, 0.0);
  EXPECT_FALSE(o.last_event);
  EXPECT_TRUE(store.events({}, 10, std::nullopt)->events.empty());
  EXPECT_TRUE(store.class_totals({})->empty());
  EXPECT_TRUE(store.sources({})->empty());
  EXPECT_TRUE(store.time_series({}, 60)->empty());
}

TEST_P(StoreConformance, InsertsEveryEventOfABatch) {
  OPEN_STORE_OR_SKIP(f);
  const auto events = sample_events(500);
  ASSERT_TRUE(store.insert(std::span(events).first(200)));
  ASSERT_TRUE(store.insert(std::span(events).subspan(200)));
  EXPECT_EQ(*store.count(), 500);
}

// At-least-once delivery, exactly-once storage: an event whose (source_id, event_id) is stored
// is skipped when it comes again; events without an id are all kept.
TEST_P(StoreConformance, RedeliveredEventIdsAreStoredOnce) {
  OPEN_STORE_OR_SKIP(f);
  auto events = sample_events(6);
  for (size_t i = 0; i < 4; ++i) events[i].event_id = "e-" + std::to_string(i);
  ASSERT_TRUE(store.insert(events));
  auto again = events;  // the four with ids come again, next to one new id and one without
  again[4].event_id = "e-new";
  ASSERT_TRUE(store.insert(again));
  EXPECT_EQ(*store.count(), 6 + 2);
  auto other_source = events[0];
  other_source.source_id = "another-edge";  // ids are unique per source only
  ASSERT_TRUE(store.insert(std::span(&other_source, 1)));
  EXPECT_EQ(*store.count(), 9);
  const auto page = store.events({}, 100, std::nullopt);
  ASSERT_TRUE(page);
  EXPECT_EQ(std::ranges::count_if(page->events, [](const stats::StoredEvent& e) { return e.event_id == "e-2"; }), 1);
}

TEST_P(StoreConformance, OverviewMatchesAComputationInCpp) {
  OPEN_STORE_OR_SKIP(f);
  const auto events = sample_events(997);
  ASSERT_TRUE(store.insert(events));
  const std::vector<EventFilter> filters = {
      {},
      {.source_id = "edge-002"},
      {.from_utc = "2025-03-01T11:00:00.000000Z", .to_utc = "2025-03-01T12:00:00.000000Z"},
      {.min_detections = 3},
      {.source_id = "remote-001", .from_utc = "2025-03-01T10:30:00.000000Z", .min_detections = 2},
      {.source_id = "nobody"},
  };
  for (const auto& filter : filters) {
    const auto x = expect(events, filter);
    const auto o = *store.overview(filter);
    SCOPED_TRACE(filter.source_id + " " + filter.from_utc + " " + filter.to_utc + " " +
                 std::to_string(filter.min_detections));
    EXPECT_EQ(o.events, x.events);
    EXPECT_EQ(o.detections, x.detections);
    EXPECT_EQ(o.sources, static_cast<std::int64_t>(x.sources.size()));
    EXPECT_NEAR(o.avg_latency_ms, x.avg, 1e-9);
    EXPECT_DOUBLE_EQ(o.p50_latency_ms, x.p50);
    EXPECT_DOUBLE_EQ(o.p95_latency_ms, x.p95);
    EXPECT_DOUBLE_EQ(o.max_latency_ms, x.max);
    if (x.events > 0) {
      ASSERT_TRUE(o.last_event);
      std::string latest;
      for (const auto& e : events) {
        if (matches(e, filter)) latest = std::max(latest, e.ts_utc);
      }
      EXPECT_EQ(o.last_event->ts_utc, latest);
      EXPECT_EQ(o.last_ts_utc, latest);
    }
  }
}

// The edge cases where two definitions of "nearest rank" part: the store's p50 and p95 are
// vision::percentile's for the same latencies (one source per case, read with a source filter).
TEST_P(StoreConformance, PercentilesAreVisionPercentile) {
  OPEN_STORE_OR_SKIP(f);
  std::vector<double> twenty, hundred;
  for (int i = 1; i <= 20; ++i) twenty.push_back(i * 1.5);
  for (int i = 100; i >= 1; --i) hundred.push_back(i * 0.25);
  const std::map<std::string, std::vector<double>> cases = {
      {"two", {20.0, 10.0}},     // the median of {10, 20} is 10
      {"one", {7.5}},            // one value is every percentile
      {"four", {4, 3, 2, 1}},    // 0.5 · 4 is whole
      {"twenty", twenty},        // 0.5 · 20 and 0.95 · 20 are whole
      {"hundred", hundred},      // both whole again, values inserted in falling order
      {"ties", {5, 5, 1, 5}}};
  std::vector<NewEvent> events;
  std::int64_t micros = *vision::parse_utc_micros("2025-03-01T10:00:00Z");
  for (const auto& [source, latencies] : cases) {
    for (const double latency : latencies) {
      NewEvent e;
      e.source_id = source;
      e.ts_utc = vision::format_utc_micros(micros += 1'000'000);
      e.counts_by_class = "{}";
      e.latency_ms = latency;
      e.ts_received_utc = e.ts_utc;
      events.push_back(std::move(e));
    }
  }
  ASSERT_TRUE(store.insert(events));
  for (const auto& [source, latencies] : cases) {
    SCOPED_TRACE(source);
    const auto o = store.overview({.source_id = source});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->events, static_cast<std::int64_t>(latencies.size()));
    EXPECT_DOUBLE_EQ(o->p50_latency_ms, percentile(latencies, 0.5));
    EXPECT_DOUBLE_EQ(o->p95_latency_ms, percentile(latencies, 0.95));
  }
  EXPECT_DOUBLE_EQ(store.overview({.source_id = "two"})->p50_latency_ms, 10.0);
  EXPECT_DOUBLE_EQ(store.overview({.source_id = "twenty"})->p95_latency_ms, 19 * 1.5);
}

TEST_P(StoreConformance, EventsPageNewestFirstWithACursor) {
  OPEN_STORE_OR_SKIP(f);
  const auto events = sample_events(250);
  ASSERT_TRUE(store.insert(events));
  std::vector<std::int64_t> ids;
  std::optional<std::int64_t> cursor;
  int pages = 0;
  do {
    auto page = store.events({.min_detections = 1}, 40, cursor);
    ASSERT_TRUE(page);
    for (const auto& e : page->events) {
      EXPECT_GE(e.total_detections, 1);
      ids.push_back(e.id);
    }
    cursor = page->next_cursor;
    ++pages;
  } while (cursor && pages < 100);
  const auto x = expect(events, {.min_detections = 1});
  EXPECT_EQ(static_cast<std::int64_t>(ids.size()), x.events);
  EXPECT_TRUE(std::is_sorted(ids.rbegin(), ids.rend())) << "newest (highest id) first";
  EXPECT_EQ(std::set<std::int64_t>(ids.begin(), ids.end()).size(), ids.size()) << "no event twice";

  // The first event as stored reads back field for field.
  auto one = store.events({}, 250, std::nullopt);
  const auto& oldest = one->events.back();
  EXPECT_EQ(oldest.source_id, events[0].source_id);
  EXPECT_EQ(oldest.ts_utc, events[0].ts_utc);
  EXPECT_EQ(oldest.total_detections, events[0].total_detections);
  EXPECT_EQ(nlohmann::json::parse(oldest.counts_by_class),
            nlohmann::json::parse(events[0].counts_by_class));
  EXPECT_DOUBLE_EQ(oldest.latency_ms, events[0].latency_ms);
  EXPECT_EQ(oldest.ts_received_utc, events[0].ts_received_utc);
}

TEST_P(StoreConformance, ClassTotalsSumTheCounts) {
  OPEN_STORE_OR_SKIP(f);
  const auto events = sample_events(600);
  ASSERT_TRUE(store.insert(events));
  for (const EventFilter& filter :
       {EventFilter{}, EventFilter{.source_id = "edge-001", .min_detections = 2}}) {
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> want;
    for (const auto& e : events) {
      if (!matches(e, filter)) continue;
      const auto counts = nlohmann::json::parse(e.counts_by_class);
      for (const auto& [name, count] : counts.items()) {
        want[name].first += count.get<std::int64_t>();
        if (count.get<std::int64_t>() > 0) ++want[name].second;
      }
    }
    const auto totals = *store.class_totals(filter);
    ASSERT_EQ(totals.size(), want.size());
    for (size_t i = 0; i < totals.size(); ++i) {
      EXPECT_EQ(totals[i].detections, want[totals[i].class_name].first) << totals[i].class_name;
      EXPECT_EQ(totals[i].events, want[totals[i].class_name].second) << totals[i].class_name;
      if (i > 0) {
        EXPECT_GE(totals[i - 1].detections, totals[i].detections) << "largest first";
      }
    }
  }
}

TEST_P(StoreConformance, SourcesBreakDownEventsAndLatency) {
  OPEN_STORE_OR_SKIP(f);
  const auto events = sample_events(400);
  ASSERT_TRUE(store.insert(events));
  const auto rows = *store.sources({});
  ASSERT_EQ(rows.size(), 3U);
  std::int64_t total = 0;
  for (const auto& row : rows) {
    const auto x = expect(events, {.source_id = row.source_id});
    EXPECT_EQ(row.events, x.events) << row.source_id;
    EXPECT_EQ(row.detections, x.detections) << row.source_id;
    EXPECT_NEAR(row.avg_latency_ms, x.avg, 1e-9) << row.source_id;
    EXPECT_DOUBLE_EQ(row.max_latency_ms, x.max) << row.source_id;
    total += row.events;
  }
  EXPECT_EQ(total, 400);
  EXPECT_GE(rows[0].events, rows[1].events);
}

TEST_P(StoreConformance, TimeSeriesBucketsByUtcTime) {
  OPEN_STORE_OR_SKIP(f);
  const auto events = sample_events(700);
  ASSERT_TRUE(store.insert(events));
  for (int width : {60, 300, 3600}) {
    std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> want;
    for (const auto& e : events) {
      const std::int64_t t = *vision::parse_utc_micros(e.ts_utc) / 1'000'000 / width * width;
      ++want[t].first;
      want[t].second += e.total_detections;
    }
    const auto points = *store.time_series({}, width);
    ASSERT_EQ(points.size(), want.size()) << width;
    for (const auto& p : points) {
      EXPECT_EQ(p.bucket_start % width, 0);
      EXPECT_EQ(p.events, want[p.bucket_start].first) << p.bucket_start;
      EXPECT_EQ(p.detections, want[p.bucket_start].second) << p.bucket_start;
    }
  }
  EXPECT_FALSE(store.time_series({}, 0));
}

TEST_P(StoreConformance, DeleteBeforeRemovesOnlyOlderEvents) {
  OPEN_STORE_OR_SKIP(f);
  const auto events = sample_events(300);
  ASSERT_TRUE(store.insert(events));
  const std::string cutoff = "2025-03-01T11:30:00.000000Z";
  const auto older = std::count_if(events.begin(), events.end(),
                                   [&](const NewEvent& e) { return e.ts_utc < cutoff; });
  ASSERT_GT(older, 0);
  EXPECT_EQ(*store.delete_before(cutoff), older);
  EXPECT_EQ(*store.count(), 300 - older);
  EXPECT_EQ(store.overview({.to_utc = cutoff})->events, 0);
  EXPECT_EQ(*store.delete_before(cutoff), 0);
}

}  // namespace vision::test
