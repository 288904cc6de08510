// The statistics ingest path without the network, each step as a ratio of a same-run baseline
// (parsing the seed's example event into a nlohmann::json tree): reading and validating events
// the way a push does, the whole push handler (key, validation, rate limiter, queue), and
// SQLite batch inserts.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "event_parser.hpp"
#include "vision/core/timestamp.hpp"
#include "vision/stats/event_writer.hpp"
#include "vision/stats/stats_api.hpp"
#include "vision/stats/stats_metrics.hpp"

namespace fs = std::filesystem;
using namespace vision;

namespace {

const std::string k_seed_event =
    R"({"schema_version":1,"source_id":"edge-001","ts_utc":"2025-01-01T12:00:00Z","total_detections":3,"counts_by_class":{"person":2,"car":1},"latency_ms":42.5})";

fs::path temp_db(const char* name) {
  const auto dir = fs::temp_directory_path() / ("vision-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = dir / name;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
  return path;
}

void json_parse_baseline(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::parse(k_seed_event));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(json_parse_baseline);

// What a push does with its body: read it without building a JSON tree, apply the contract,
// canonicalise the time, write the compact counts.
void read_event(benchmark::State& state) {
  const std::string received = vision::format_utc_micros(vision::now_utc_micros());
  for (auto _ : state)
    benchmark::DoNotOptimize(stats::parse_stats_events(k_seed_event, false, received));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(read_event);

void read_batch_of_1000(benchmark::State& state) {
  std::string body = "[";
  for (int i = 0; i < 1000; ++i) body += (i ? "," : "") + k_seed_event;
  body += "]";
  const std::string received = vision::format_utc_micros(vision::now_utc_micros());
  for (auto _ : state) benchmark::DoNotOptimize(stats::parse_stats_events(body, true, received));
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(read_batch_of_1000);

void push_handler(benchmark::State& state) {
  const auto path = temp_db("handler.db");
  auto store = std::move(*stats::open_store({.storage = "sqlite", .db_path = path}));
  stats::StatsMetrics metrics;
  stats::EventWriter writer(*store, {.flush_interval_sec = 1.0}, &metrics);
  writer.start();
  stats::StatsApi api({.api_key = "key", .rate_limit_per_sec = 1e9}, *store, writer, metrics);
  net::HttpRequest request;
  request.method = "POST";
  request.path = "/api/v1/push";
  request.headers["x-api-key"] = "key";
  request.body = k_seed_event;
  for (auto _ : state) {
    auto response = api.push(request);
    if (response.status != 200) state.SkipWithError("push was refused");
  }
  state.SetItemsProcessed(state.iterations());
  writer.stop();
}
BENCHMARK(push_handler)->UseRealTime();

void sqlite_insert_batch(benchmark::State& state) {
  const auto path = temp_db("insert.db");
  auto store = std::move(*stats::open_store({.storage = "sqlite", .db_path = path}));
  std::vector<stats::NewEvent> batch(static_cast<size_t>(state.range(0)));
  std::int64_t t = *vision::parse_utc_micros("2025-01-01T12:00:00Z");
  for (auto _ : state) {
    state.PauseTiming();
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i] = {"edge-00" + std::to_string(i % 8),
                  vision::format_utc_micros(t += 1000),
                  3,
                  R"({"car":1,"person":2})",
                  42.5,
                  vision::format_utc_micros(t)};
    }
    state.ResumeTiming();
    if (!store->insert(batch)) state.SkipWithError("insert failed");
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(sqlite_insert_batch)->Arg(1)->Arg(100)->Arg(4096)->UseRealTime();

// The writer thread alone: batches of 1000 queued as fast as one producer can build them,
// committed by the EventWriter (slices of up to 16384 per transaction), timed until flushed.
void writer_commit(benchmark::State& state) {
  const auto path = temp_db("writer.db");
  auto store = std::move(*stats::open_store({.storage = "sqlite", .db_path = path}));
  stats::EventWriter writer(*store, {.flush_interval_sec = 1.0});
  writer.start();
  std::int64_t t = *vision::parse_utc_micros("2025-01-01T12:00:00Z");
  for (auto _ : state) {
    std::vector<stats::NewEvent> batch(1000);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i] = {"edge-00" + std::to_string(i % 8),
                  vision::format_utc_micros(t += 1000),
                  3,
                  R"({"car":1,"person":2})",
                  42.5,
                  vision::format_utc_micros(t)};
    }
    if (!writer.enqueue(std::move(batch))) state.SkipWithError("queue refused");
  }
  writer.flush();
  state.SetItemsProcessed(state.iterations() * 1000);
  writer.stop();
}
BENCHMARK(writer_commit)->UseRealTime()->Iterations(500);

// Collects nanoseconds per item so main() can print ratios to the baseline.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      const auto items = run.counters.find("items_per_second");
      if (items != run.counters.end() && items->second.value > 0) {
        ns_per_item[run.benchmark_name()] = 1e9 / items->second.value;
      }
    }
  }
  std::map<std::string, double> ns_per_item;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const auto baseline = reporter.ns_per_item.find("json_parse_baseline");
  if (baseline != reporter.ns_per_item.end()) {
    std::printf("\nper event, relative to parsing the event's JSON (%.0f ns):\n", baseline->second);
    for (const auto& [name, ns] : reporter.ns_per_item) {
      std::printf("  %-32s %9.0f ns  %6.2fx\n", name.c_str(), ns, ns / baseline->second);
    }
  }
  benchmark::Shutdown();
  std::error_code ec;
  fs::remove_all(fs::temp_directory_path() / ("vision-bench-" + std::to_string(::getpid())), ec);
}
