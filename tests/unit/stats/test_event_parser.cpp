// The streaming StatsEvent reader must accept and refuse exactly what the contract reader in
// core (stats_event_from_json on a parsed tree) does, and produce the same values.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "event_parser.hpp"
#include "vision/core/contracts.hpp"
#include "vision/core/timestamp.hpp"

using namespace vision;
using json = nlohmann::json;
using stats::parse_stats_events;

namespace {

const std::string k_received = "2026-01-01T00:00:00.000000Z";

// The reference: parse a tree, validate with core, canonicalise.
Expected<stats::NewEvent> reference(const std::string& body) {
  json tree;
  try {
    tree = json::parse(body);
  } catch (const json::exception& e) {
    return fail(ErrorCode::invalid_data, std::string("malformed JSON: ") + e.what());
  }
  auto event = stats_event_from_json(tree);
  if (!event) return std::unexpected(event.error());
  auto ts = vision::canonical_utc(event->ts_utc);
  if (!ts) return fail(ErrorCode::invalid_data, "ts_utc: " + ts.error().message);
  return stats::NewEvent{event->source_id,        *ts,
                         event->total_detections, json(event->counts_by_class).dump(),
                         event->latency_ms,       k_received};
}

std::string field_of(const std::string& message) {
  return message.substr(0, message.find(':'));
}

}  // namespace

TEST(EventParser, AgreesWithTheContractReaderOnEveryCase) {
  const std::vector<std::string> bodies = {
      R"({"schema_version":1,"source_id":"edge-001","ts_utc":"2025-01-01T12:00:00Z","total_detections":3,"counts_by_class":{"person":2,"car":1},"latency_ms":42.5})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00+02:00","total_detections":0,"counts_by_class":{},"latency_ms":0})",
      R"({"source_id":"e","ts_utc":"2025-01-01 12:00:00.5","total_detections":1,"counts_by_class":{"a":1},"latency_ms":1e2,"extra":{"nested":[1,{"x":2}]},"more":[[]]})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{"b":1,"a":0,"b":2},"latency_ms":3})",
      R"({"source_id":"\u00e9dge \"q\"","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{"ca\tt":1,"d\u00f6g":2,"q\"\\":3},"latency_ms":3.25})",
      R"({"schema_version":2,"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":1})",
      R"({"schema_version":"1","source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":1})",
      R"({"source_id":"","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":1})",
      R"({"source_id":5,"ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":1})",
      R"({"ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"yesterday","total_detections":1,"counts_by_class":{},"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"2025-02-30T00:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":-1,"counts_by_class":{},"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1.5,"counts_by_class":{},"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{"a":-1},"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{"a":1.0},"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{"":1},"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":[],"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{"a":{"b":1}},"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"latency_ms":1})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":-0.5})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":"1"})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":null})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":NaN})",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":1e999})",
      R"({"source_id":"e")",
      R"([1,2])",
      R"("text")",
      "",
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":1} trailing)",
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE(body);
    const auto want = reference(body);
    const auto got = parse_stats_events(body, false, k_received);
    ASSERT_EQ(static_cast<bool>(got), static_cast<bool>(want))
        << (got ? "accepted" : got.error().message) << " vs "
        << (want ? "accepted" : want.error().message);
    if (!want) {
      EXPECT_EQ(got.error().code, ErrorCode::invalid_data);
      EXPECT_EQ(field_of(got.error().message), field_of(want.error().message))
          << got.error().message << " vs " << want.error().message;
      continue;
    }
    ASSERT_EQ(got->size(), 1U);
    const auto& e = got->front();
    EXPECT_EQ(e.source_id, want->source_id);
    EXPECT_EQ(e.ts_utc, want->ts_utc);
    EXPECT_EQ(e.total_detections, want->total_detections);
    EXPECT_EQ(e.counts_by_class, want->counts_by_class) << "same compact text as json::dump";
    EXPECT_DOUBLE_EQ(e.latency_ms, want->latency_ms);
    EXPECT_EQ(e.ts_received_utc, k_received);
  }
}

TEST(EventParser, ReadsABatchInOrder) {
  json batch = json::array();
  for (int i = 0; i < 5; ++i) {
    batch.push_back({{"source_id", "edge-" + std::to_string(i)},
                     {"ts_utc", "2025-01-01T12:00:0" + std::to_string(i) + "Z"},
                     {"total_detections", i},
                     {"counts_by_class", {{"car", i}}},
                     {"latency_ms", i * 1.5},
                     {"unknown", {{"deep", json::array({1, 2, {{"x", 1}}})}}}});
  }
  for (const auto& body : {batch.dump(), json({{"events", batch}, {"note", {1, 2}}}).dump()}) {
    auto events = parse_stats_events(body, true, k_received);
    ASSERT_TRUE(events) << events.error().message;
    ASSERT_EQ(events->size(), 5U);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ((*events)[i].source_id, "edge-" + std::to_string(i));
      EXPECT_EQ((*events)[i].ts_utc, "2025-01-01T12:00:0" + std::to_string(i) + ".000000Z");
      EXPECT_EQ((*events)[i].counts_by_class, R"({"car":)" + std::to_string(i) + "}");
    }
  }
  EXPECT_EQ(parse_stats_events("[]", true, k_received)->size(), 0U);
}

TEST(EventParser, NamesTheBadElementOfABatch) {
  const std::string good =
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":1})";
  const std::string bad_latency =
      R"({"source_id":"e","ts_utc":"2025-01-01T12:00:00Z","total_detections":1,"counts_by_class":{},"latency_ms":-1})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[" + good + "," + good + "," + bad_latency + "]", "[2].latency_ms"},
      {"[" + good + ",7]", "[1]: stats event: must be a JSON object"},
      {"[" + good + ",[]]", "[1]: stats event: must be a JSON object"},
      {good, "batch: must be a JSON array"},
      {R"({"items":[]})", "batch: must be a JSON array"},
      {R"({"events":5})", "batch: must be a JSON array"},
      {"42", "batch: must be a JSON array"},
      {"[" + good + ",", "malformed JSON"},
  };
  for (const auto& [body, want] : cases) {
    auto events = parse_stats_events(body, true, k_received);
    ASSERT_FALSE(events) << body;
    EXPECT_NE(events.error().message.find(want), std::string::npos) << events.error().message;
  }
}

TEST(EventParser, EscapesStringsLikeNlohmann) {
  const std::vector<std::string> texts = {"plain", "quote\"back\\slash", "tab\tnew\nline\r",
                                         std::string("nul\0x", 5), "\x01\x1f",
                                         "caf\xc3\xa9 \xe2\x82\xac"};
  for (const auto& text : texts) {
    std::string out;
    stats::append_json_string(out, text);
    EXPECT_EQ(out, json(text).dump()) << text;
  }
}
