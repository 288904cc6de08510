// The data contracts (Detection, LabelRecord, StatsEvent): JSON round trips and every bad
// field named in the error.
#include <gtest/gtest.h>

#include "vision/core/contracts.hpp"

using nlohmann::json;

namespace {

json valid_detection() {
  return {{"schema_version", 1}, {"class_id", 2}, {"class_name", "triangle"}, {"score", 0.9},
          {"bbox_xyxy", {10.0, 20.0, 30.5, 40.25}}};
}

// The example event of the Python original's README and clients.
json seed_event() {
  return json::parse(R"({"schema_version": 1, "source_id": "edge-001",
    "ts_utc": "2025-01-01T12:00:00Z", "total_detections": 3,
    "counts_by_class": {"person": 2, "car": 1}, "latency_ms": 42.5})");
}

struct BadField {
  std::string name;
  std::function<void(json&)> mutate;
  std::string field;  // must be named in the message
};

}  // namespace

TEST(Detection, RoundTrips) {
  auto d = vision::detection_from_json(valid_detection());
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->class_id, 2);
  EXPECT_EQ(d->class_name, "triangle");
  EXPECT_FLOAT_EQ(d->bbox_xyxy[3], 40.25F);
  auto again = vision::detection_from_json(vision::to_json(*d));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->bbox_xyxy, d->bbox_xyxy);
}

// The text other programs parse: the remote server's replies carry detections without
// schema_version, everything else with it; keys in name order either way.
TEST(Detection, JsonTextWithAndWithoutSchemaVersion) {
  const vision::Detection d{2, "triangle", 0.5F, {10.0F, 20.0F, 30.5F, 40.25F}};
  EXPECT_EQ(vision::to_json(d).dump(),
            R"({"bbox_xyxy":[10.0,20.0,30.5,40.25],"class_id":2,"class_name":"triangle","schema_version":1,"score":0.5})");
  EXPECT_EQ(vision::to_json(d, vision::SchemaVersionField::omit).dump(),
            R"({"bbox_xyxy":[10.0,20.0,30.5,40.25],"class_id":2,"class_name":"triangle","score":0.5})");
}

TEST(Detection, EveryBadFieldIsNamed) {
  const std::vector<BadField> cases = {
      {"negative class", [](json& j) { j["class_id"] = -1; }, "class_id"},
      {"float class", [](json& j) { j["class_id"] = 1.5; }, "class_id"},
      {"empty name", [](json& j) { j["class_name"] = ""; }, "class_name"},
      {"missing name", [](json& j) { j.erase("class_name"); }, "class_name: missing"},
      {"score above 1", [](json& j) { j["score"] = 1.01; }, "score"},
      {"score negative", [](json& j) { j["score"] = -0.1; }, "score"},
      {"score text", [](json& j) { j["score"] = "high"; }, "score"},
      {"box of 3", [](json& j) { j["bbox_xyxy"] = {1, 2, 3}; }, "bbox_xyxy"},
      {"x2 < x1", [](json& j) { j["bbox_xyxy"] = {5, 0, 4, 1}; }, "x2 < x1"},
      {"y2 < y1", [](json& j) { j["bbox_xyxy"] = {0, 5, 1, 4}; }, "y2 < y1"},
      {"box text", [](json& j) { j["bbox_xyxy"] = {0, "a", 1, 4}; }, "bbox_xyxy"},
      {"schema 2", [](json& j) { j["schema_version"] = 2; }, "schema_version"},
  };
  for (const auto& c : cases) {
    json j = valid_detection();
    c.mutate(j);
    auto d = vision::detection_from_json(j);
    ASSERT_FALSE(d) << c.name;
    EXPECT_EQ(d.error().code, vision::ErrorCode::invalid_data);
    EXPECT_NE(d.error().message.find(c.field), std::string::npos) << c.name << ": " << d.error().message;
  }
}

TEST(Detection, NonFiniteBoxIsRejected) {
  vision::Detection d{0, "a", 0.5F, {0, 0, std::numeric_limits<float>::infinity(), 1}};
  ASSERT_TRUE(vision::check(d));
  EXPECT_NE(vision::check(d)->find("finite"), std::string::npos);
}

TEST(LabelRecord, RoundTripsAndNamesNestedFields) {
  json record = {{"schema_version", 1}, {"image_path", "images/a/b.jpg"}, {"source", "model:x.onnx"},
                 {"detections", {valid_detection(), valid_detection()}}};
  auto r = vision::label_record_from_json(record);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->detections.size(), 2U);
  EXPECT_EQ(vision::to_json(*r)["detections"][1]["class_name"], "triangle");

  record["detections"][1]["score"] = 7;
  auto bad = vision::label_record_from_json(record);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("detections[1].score"), std::string::npos) << bad.error().message;

  record.erase("image_path");
  EXPECT_FALSE(vision::label_record_from_json(record));
}

TEST(StatsEvent, AcceptsTheSeedExample) {
  auto e = vision::stats_event_from_json(seed_event());
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->source_id, "edge-001");
  EXPECT_EQ(e->counts_by_class.at("person"), 2);
  EXPECT_DOUBLE_EQ(e->latency_ms, 42.5);
  auto again = vision::stats_event_from_json(vision::to_json(*e));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->counts_by_class, e->counts_by_class);
}

TEST(StatsEvent, EveryBadFieldIsNamed) {
  const std::vector<BadField> cases = {
      {"empty source", [](json& j) { j["source_id"] = ""; }, "source_id"},
      {"missing source", [](json& j) { j.erase("source_id"); }, "source_id: missing"},
      {"bad time", [](json& j) { j["ts_utc"] = "yesterday"; }, "ts_utc"},
      {"month 13", [](json& j) { j["ts_utc"] = "2025-13-01T12:00:00Z"; }, "ts_utc"},
      {"date only", [](json& j) { j["ts_utc"] = "2025-01-01"; }, "ts_utc"},
      {"negative total", [](json& j) { j["total_detections"] = -1; }, "total_detections"},
      {"float total", [](json& j) { j["total_detections"] = 1.5; }, "total_detections"},
      {"negative count", [](json& j) { j["counts_by_class"]["car"] = -2; }, "counts_by_class.car"},
      {"text count", [](json& j) { j["counts_by_class"]["car"] = "two"; }, "counts_by_class.car"},
      {"counts list", [](json& j) { j["counts_by_class"] = json::array(); }, "counts_by_class"},
      {"negative latency", [](json& j) { j["latency_ms"] = -0.5; }, "latency_ms"},
      {"latency text", [](json& j) { j["latency_ms"] = "fast"; }, "latency_ms"},
      {"schema 3", [](json& j) { j["schema_version"] = 3; }, "schema_version"},
      {"not an object", [](json& j) { j = json::array(); }, "object"},
  };
  for (const auto& c : cases) {
    json j = seed_event();
    c.mutate(j);
    auto e = vision::stats_event_from_json(j);
    ASSERT_FALSE(e) << c.name;
    EXPECT_NE(e.error().message.find(c.field), std::string::npos) << c.name << ": " << e.error().message;
  }
}

// The bounds that keep one client from storing megabytes or overflowing the service's sums.
TEST(StatsEvent, TextAndCountsAreBounded) {
  const std::vector<BadField> cases = {
      {"6 MB source", [](json& j) { j["source_id"] = std::string(6 << 20, 's'); }, "source_id: must be at most 128 bytes"},
      {"NUL in source", [](json& j) { j["source_id"] = std::string("cam\0one", 7); }, "source_id: must not contain control"},
      {"long class", [](json& j) { j["counts_by_class"][std::string(129, 'c')] = 1; }, "counts_by_class"},
      {"NUL class", [](json& j) { j["counts_by_class"][std::string("car\0", 4)] = 1; }, "control characters"},
      {"total near 2^63", [](json& j) { j["total_detections"] = std::int64_t{1} << 62; }, "total_detections: must be between 0 and"},
      {"count near 2^63", [](json& j) { j["counts_by_class"]["car"] = std::int64_t{1} << 62; }, "counts_by_class.car"},
      {"1001 classes",
       [](json& j) {
         for (int i = 0; i < 1001; ++i) j["counts_by_class"]["c" + std::to_string(i)] = 1;
       },
       "at most 1000 classes"},
  };
  for (const auto& c : cases) {
    json j = seed_event();
    c.mutate(j);
    auto e = vision::stats_event_from_json(j);
    ASSERT_FALSE(e) << c.name;
    EXPECT_NE(e.error().message.find(c.field), std::string::npos) << c.name << ": " << e.error().message.substr(0, 200);
  }
  json at_bounds = seed_event();
  at_bounds["source_id"] = std::string(128, 's');
  at_bounds["total_detections"] = vision::k_max_count;
  at_bounds["counts_by_class"] = {{"caf\u00e9 \u732b", vision::k_max_count}};
  EXPECT_TRUE(vision::stats_event_from_json(at_bounds));
}

TEST(CheckText, ValidUtf8WithoutControlCharacters) {
  EXPECT_FALSE(vision::check_text("f", "caf\xc3\xa9", 10));
  for (const std::string bad : {std::string("\xff"), std::string("\xc3"), std::string("\xc0\xaf"),  // lone, cut short, overlong
                                std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"),  // surrogate, > U+10FFFF
                                std::string("a\tb"), std::string("\x7f")}) {
    const auto problem = vision::check_text("f", bad, 10);
    ASSERT_TRUE(problem) << bad;
    EXPECT_EQ(problem->rfind("f: ", 0), 0U) << *problem;
  }
  EXPECT_TRUE(vision::check_text("f", "", 10));
  EXPECT_TRUE(vision::check_text("f", "abcdefghijk", 10));
}

TEST(StatsEvent, NonFiniteLatencyIsRejected) {
  vision::StatsEvent e{"edge", "2026-01-01T00:00:00Z", 0, {}, std::nan("")};
  ASSERT_TRUE(vision::check(e));
  EXPECT_NE(vision::check(e)->find("latency_ms"), std::string::npos);
}

TEST(StatsEvent, MadeFromDetections) {
  std::vector<vision::Detection> detections = {{0, "car", 0.9F, {0, 0, 1, 1}},
                                               {0, "car", 0.8F, {2, 2, 3, 3}},
                                               {1, "person", 0.7F, {0, 0, 1, 1}}};
  const auto e = vision::make_stats_event("edge-7", detections, 12.0);
  EXPECT_EQ(e.total_detections, 3);
  EXPECT_EQ(e.counts_by_class.at("car"), 2);
  EXPECT_FALSE(vision::check(e)) << *vision::check(e);
}

// A server that answers counts without boxes (the Python original's remote): the event comes
// from the counts, its total their sum.
TEST(StatsEvent, MadeFromCountsWithoutBoxes) {
  const auto e = vision::make_stats_event("edge-7", std::map<std::string, std::int64_t>{{"car", 2}, {"person", 1}}, 12.0);
  EXPECT_EQ(e.total_detections, 3);
  EXPECT_EQ(e.counts_by_class.at("person"), 1);
  EXPECT_FALSE(vision::check(e)) << *vision::check(e);
  EXPECT_EQ(vision::make_stats_event("edge-7", std::map<std::string, std::int64_t>{}, 1.0).total_detections, 0);
}

TEST(CountsByClass, ReadAloneTheyAreCheckedAsInAStatsEvent) {
  auto counts = vision::counts_by_class_from_json(json{{"car", 2}, {"person", 0}});
  ASSERT_TRUE(counts) << counts.error().message;
  EXPECT_EQ(*counts, (std::map<std::string, std::int64_t>{{"car", 2}, {"person", 0}}));
  const std::vector<std::pair<json, std::string>> bad = {
      {json{{"car", -1}}, "counts_by_class.car: must be between 0 and"},
      {json{{"car", 1.5}}, "counts_by_class.car: must be an integer"},
      {json{{"car", "2"}}, "counts_by_class.car: must be an integer"},
      {json::array({1, 2}), "counts_by_class: must be an object"},
      {json(3), "counts_by_class: must be an object"},
      {json{{"", 1}}, "counts_by_class: must not be empty (a class name)"},
  };
  for (const auto& [value, message] : bad) {
    auto parsed = vision::counts_by_class_from_json(value);
    ASSERT_FALSE(parsed) << value.dump();
    EXPECT_EQ(parsed.error().code, vision::ErrorCode::invalid_data);
    EXPECT_NE(parsed.error().message.find(message), std::string::npos) << parsed.error().message;
  }
  const std::vector<vision::Detection> detections = {{0, "car", 0.9F, {0, 0, 1, 1}}, {0, "car", 0.8F, {2, 2, 3, 3}}};
  EXPECT_EQ(vision::counts_by_class(detections), (std::map<std::string, std::int64_t>{{"car", 2}}));
}
