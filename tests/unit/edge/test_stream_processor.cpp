// Edge mode "stream": the reply of POST /api/v1/frame read as boxes (Vision's server) or as
// counts without boxes (the Python original's), and every malformed field named in the error.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "helpers/original_remote.hpp"
#include "vision/edge/stream_processor.hpp"

using nlohmann::json;

namespace {

const std::string k_endpoint = "http://127.0.0.1:1/api/v1/frame";

// What Vision's server answers (SPEC 9): boxes and their counts.
json vision_reply() {
  return json::parse(R"({"ok": true, "source_id": "edge-001", "frame_index": 0, "total_detections": 1,
    "counts_by_class": {"circle": 1}, "latency_ms": 4.0,
    "detections": [{"class_id": 0, "class_name": "circle", "score": 0.9, "bbox_xyxy": [1, 2, 30, 40]}]})");
}

// What the Python original's server answers: the counts alone.
json original_reply() {
  return json::parse(R"({"ok": true, "source_id": "edge-001", "frame_index": 0, "total_detections": 3,
    "counts_by_class": {"circle": 2, "square": 1}, "latency_ms": 4.0})");
}

}  // namespace

TEST(StreamReply, BoxesComeAsDetections) {
  auto result = vision::frame_result_from_reply(vision_reply(), k_endpoint);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_FALSE(result->counts_only);
  ASSERT_EQ(result->detections.size(), 1U);
  EXPECT_EQ(result->detections[0].bbox_xyxy, (std::array<float, 4>{1, 2, 30, 40}));
  EXPECT_EQ(result->counts(), (std::map<std::string, std::int64_t>{{"circle", 1}}));
}

TEST(StreamReply, CountsWithoutDetectionsComeAsCountsOnly) {
  auto result = vision::frame_result_from_reply(original_reply(), k_endpoint);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->detections.empty());
  ASSERT_TRUE(result->counts_only);
  EXPECT_EQ(result->counts(), (std::map<std::string, std::int64_t>{{"circle", 2}, {"square", 1}}));
  auto nothing = original_reply();
  nothing["counts_by_class"] = json::object();
  result = vision::frame_result_from_reply(nothing, k_endpoint);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_TRUE(result->counts_only && result->counts_only->empty());
}

TEST(StreamReply, AMalformedReplyFailsTheFrameNamingTheField) {
  struct Case {
    std::string name;
    json reply;
    std::string words;
  };
  const auto with = [](json reply, const std::string& key, json value) {
    reply[key] = std::move(value);
    return reply;
  };
  const std::vector<Case> cases = {
      {"negative count", with(original_reply(), "counts_by_class", {{"circle", -1}}), "counts_by_class.circle: must be between 0"},
      {"fractional count", with(original_reply(), "counts_by_class", {{"circle", 1.5}}), "counts_by_class.circle: must be an integer"},
      {"counts a list", with(original_reply(), "counts_by_class", json::array({2, 1})), "counts_by_class: must be an object"},
      {"counts a number", with(original_reply(), "counts_by_class", 3), "counts_by_class: must be an object"},
      {"no counts, no boxes", json{{"ok", true}}, "neither detections nor counts_by_class"},
      {"detections an object", with(vision_reply(), "detections", json::object()), "detections: must be an array"},
      {"a bad box", with(vision_reply(), "detections", json::array({{{"class_id", 0}, {"class_name", "c"}, {"score", 2}, {"bbox_xyxy", {0, 0, 1, 1}}}})),
       "detections[0].score"},
      {"not an object", json::array(), "not a JSON object"},
  };
  for (const auto& c : cases) {
    auto result = vision::frame_result_from_reply(c.reply, k_endpoint);
    ASSERT_FALSE(result) << c.name;
    EXPECT_EQ(result.error().code, vision::ErrorCode::invalid_data) << c.name;
    EXPECT_EQ(result.error().message.rfind(k_endpoint + ": ", 0), 0U) << c.name << ": " << result.error().message;
    EXPECT_NE(result.error().message.find(c.words), std::string::npos) << c.name << ": " << result.error().message;
  }
}

TEST(StreamProcessor, ReadsTheOriginalServersCountsOnlyReply) {
  vision::test::OriginalRemote server;
  auto processor = vision::make_stream_processor({server.frame_endpoint(), "", 5.0, 80, "edge-001"});
  ASSERT_TRUE(processor) << processor.error().message;
  vision::Frame frame{.index = 0, .image = cv::Mat(32, 32, CV_8UC3, cv::Scalar::all(90))};
  auto result = (*processor)->process(frame);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_TRUE(result->counts_only);
  EXPECT_EQ(result->counts(), (std::map<std::string, std::int64_t>{{"circle", 2}, {"square", 1}}));
  EXPECT_EQ(server.frames(), 1);
}
