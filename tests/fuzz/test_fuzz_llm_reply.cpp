// Randomized test of the LLM reply parser: replies generated in every accepted form (content
// string or parts, fenced or in prose, detections / objects / bare array, each box, class and
// score form, wrong types mixed in), then mutated by the fuzz mutator. Each one must come back
// as detections that keep the parser's promises (a known class, a score in [confidence, 1], a
// box inside the original image) or as a failure with a known reason: never a crash, never an
// exception. VISION_FUZZ_ITERATIONS sets the count; the slow set runs a hundred times more.
#include <gtest/gtest.h>

#include <array>
#include <limits>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "fuzz/mutator.hpp"
#include "vision/llm/reply_parser.hpp"

using nlohmann::json;
using vision::fuzz::iterations;
using vision::fuzz::Mutator;
using namespace vision::llm;

namespace {

class ReplyGenerator {
 public:
  explicit ReplyGenerator(std::uint64_t seed) : m_rng(seed) {}

  // A chat-completions body around generated content.
  std::string body() {
    const std::string text = content();
    json message_content = text;
    if (chance(0.2)) {
      const std::size_t cut = pick(text.size() + 1);
      message_content = json::array({{{"type", "text"}, {"text", text.substr(0, cut)}},
                                     {{"type", "image_url"}, {"image_url", {{"url", "data:"}}}},
                                     {{"type", "text"}, {"text", text.substr(cut)}}});
    }
    json body = {{"choices", json::array({{{"message", {{"role", "assistant"}, {"content", message_content}}}}})}};
    if (chance(0.5)) body["usage"] = {{"prompt_tokens", number()}, {"completion_tokens", pick(500)}, {"total_tokens", value()}};
    return body.dump();
  }

  std::string content() {
    json items = json::array();
    for (std::size_t i = 0, n = pick(6); i < n; ++i) items.push_back(detection());
    json top = items;
    if (chance(0.4)) top = {{"detections", items}};
    else if (chance(0.3)) top = {{"objects", items}};
    const std::string text = top.dump(chance(0.5) ? 2 : -1);
    switch (pick(4)) {
      case 0: return text;
      case 1: return "```json\n" + text + "\n```";
      case 2: return "Here is what I see [" + std::to_string(pick(9)) + " items]: " + text + " {done}.";
      default: return "```\n" + text + "\n```\nNotes: {\"detections\": oops";
    }
  }

 private:
  json detection() {
    if (chance(0.05)) return value();
    json d = json::object();
    static const std::vector<std::string> k_names = {"cat", "Dog ", " CAT", "kitty", "traffic light", "bird", ""};
    switch (pick(4)) {
      case 0: d["class_name"] = chance(0.9) ? json(k_names[pick(k_names.size())]) : value(); break;
      case 1: d["label"] = k_names[pick(k_names.size())]; break;
      case 2: d["class_id"] = chance(0.8) ? json(static_cast<int>(pick(5)) - 1) : value(); break;
      default: break;
    }
    static const std::vector<std::string> k_box_keys = {"bbox_xyxy", "bbox", "box", "box_2d", "bbox_2d", "xy"};
    const std::string key = k_box_keys[pick(k_box_keys.size())];
    const double scale = chance(0.3) ? 1.0 : chance(0.5) ? 1000.0 : 300.0;
    const std::vector<double> corners = box(scale);
    if (key == "xy") {
      const std::array<const char*, 4> names = {"x1", "y1", "x2", "y2"};
      for (std::size_t i = 0; i < 4; ++i) d[names[i]] = chance(0.97) ? json(corners[i]) : value();
    } else if (chance(0.9)) {
      json box = json::array();
      for (std::size_t i = 0, n = chance(0.9) ? 4 : pick(6); i < n; ++i) box.push_back(chance(0.97) ? json(corners[i % 4]) : value());
      d[key] = box;
    } else {
      d[key] = value();
    }
    if (chance(0.8)) {
      const double score = chance(0.8) ? uniform(0, 1) : chance(0.5) ? uniform(0, 100) : uniform(-1, 150);
      d[chance(0.8) ? "score" : "confidence"] = chance(0.95) ? json(score) : value();
    }
    return d;
  }

  // Four corners, mostly in order (x1 < x2, y1 < y2), a little outside the image at times.
  std::vector<double> box(double scale) {
    double a = uniform(-0.1, 1.1) * scale, b = uniform(-0.1, 1.1) * scale;
    double c = uniform(-0.1, 1.1) * scale, e = uniform(-0.1, 1.1) * scale;
    if (chance(0.85)) {
      if (a > c) std::swap(a, c);
      if (b > e) std::swap(b, e);
    }
    return {a, b, c, e};
  }

  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(m_rng); }

  json number() { return chance(0.5) ? json(static_cast<std::int64_t>(pick(100000)) - 10) : json(std::uniform_real_distribution<double>(-1e6, 1e6)(m_rng)); }

  json value() {
    switch (pick(8)) {
      case 0: return nullptr;
      case 1: return true;
      case 2: return "12";
      case 3: return json::array();
      case 4: return json::object();
      case 5: return std::numeric_limits<std::int64_t>::min();
      case 6: return 1e308;
      default: return number();
    }
  }

  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(m_rng) < p; }
  std::size_t pick(std::size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(m_rng); }

  std::mt19937_64 m_rng;
};

ReplyParseOptions parse_options(int round) {
  ReplyParseOptions o;
  o.class_names = {"cat", "dog", "traffic light"};
  o.class_aliases = {{"kitty", "cat"}};
  o.confidence = round % 3 == 0 ? 0.0F : 0.3F;
  o.bbox_2d_on_1000_grid = round % 2 == 0;
  o.sent_width = 320;
  o.sent_height = 240;
  o.original_width = round % 4 == 0 ? 320 : 1280;
  o.original_height = round % 4 == 0 ? 240 : 720;
  return o;
}

void expect_promises_kept(const ReplyDetections& parsed, const ReplyParseOptions& o, const std::string& input) {
  for (const auto& d : parsed.detections) {
    ASSERT_GE(d.class_id, 0) << input;
    ASSERT_LT(d.class_id, static_cast<int>(o.class_names.size())) << input;
    ASSERT_EQ(d.class_name, o.class_names[static_cast<std::size_t>(d.class_id)]) << input;
    ASSERT_GE(d.score, o.confidence) << input;
    ASSERT_LE(d.score, 1.0F) << input;
    ASSERT_GE(d.bbox_xyxy[0], 0.0F) << input;
    ASSERT_GE(d.bbox_xyxy[1], 0.0F) << input;
    ASSERT_LE(d.bbox_xyxy[2], static_cast<float>(o.original_width)) << input;
    ASSERT_LE(d.bbox_xyxy[3], static_cast<float>(o.original_height)) << input;
    ASSERT_GE(d.bbox_xyxy[2] - d.bbox_xyxy[0], 0.99F) << input;
    ASSERT_GE(d.bbox_xyxy[3] - d.bbox_xyxy[1], 0.99F) << input;
    ASSERT_FALSE(vision::check(d)) << input;
  }
  for (const auto& [reason, count] : parsed.dropped) ASSERT_GT(count, 0) << reason;
}

}  // namespace

TEST(Fuzz, LlmRepliesGiveCheckedDetectionsOrAReason) {
  const std::set<std::string> reasons = {"bad_response", "reply_too_large", "no_json"};
  ReplyGenerator generator(11);
  Mutator mutator(12);
  std::int64_t answered = 0;
  std::int64_t detections = 0;
  for (int i = 0, n = iterations(3000); i < n; ++i) {
    const ReplyParseOptions o = parse_options(i);
    // Half as generated (the forms themselves), half mutated (broken the ways networks and
    // models break them).
    std::string body = generator.body();
    if (i % 2 == 1) body = mutator.next({body});
    LlmExpected<ChatReply> reply = std::unexpected(LlmError{});
    ASSERT_NO_THROW(reply = parse_chat_response(body)) << body;
    std::string content = reply ? reply->content : generator.content();
    if (!reply) {
      ASSERT_TRUE(reasons.contains(reply.error().reason)) << reply.error().reason;
    }
    if (i % 3 == 2) content = mutator.next({content});
    LlmExpected<ReplyDetections> parsed = std::unexpected(LlmError{});
    ASSERT_NO_THROW(parsed = parse_detections(content, o)) << content;
    if (!parsed) {
      ASSERT_TRUE(reasons.contains(parsed.error().reason)) << parsed.error().reason;
      continue;
    }
    ++answered;
    detections += static_cast<std::int64_t>(parsed->detections.size());
    expect_promises_kept(*parsed, o, content);
  }
  // The generator must reach the interesting paths, not only the failures.
  EXPECT_GT(answered, iterations(3000) / 4);
  EXPECT_GT(detections, iterations(3000) / 8);
}
