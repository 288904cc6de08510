// The LLM reply parser: every content form, JSON placement, top level, class, box and score form
// of the issue, table-driven, then the malformed ones dropped and counted by reason, and the
// chat-completions envelope (content string or parts, usage, refusals).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "vision/llm/reply_parser.hpp"

using namespace vision::llm;
using nlohmann::json;

namespace {

// The image sent is 200×100; the original 400×200, so pixel boxes double when mapped back.
ReplyParseOptions options() {
  ReplyParseOptions o;
  o.class_names = {"cat", "dog", "traffic light"};
  o.class_aliases = {{"Kitty", "cat"}, {"puppy", "DOG"}};
  o.confidence = 0.25F;
  o.sent_width = 200;
  o.sent_height = 100;
  o.original_width = 400;
  o.original_height = 200;
  return o;
}

struct Form {
  const char* name;
  std::string content;
  int class_id;
  std::array<float, 4> box;  // in the original image
  float score;
};

void PrintTo(const Form& form, std::ostream* os) { *os << form.name; }

const std::vector<Form>& forms() {
  static const std::vector<Form> rows = {
      {"bare_json_bbox_xyxy", R"({"detections":[{"class_name":"dog","score":0.9,"bbox_xyxy":[10,20,60,70]}]})", 1,
       {20, 40, 120, 140}, 0.9F},
      {"objects_key", R"({"objects":[{"class_name":"cat","score":0.5,"bbox":[10,20,60,70]}]})", 0, {20, 40, 120, 140}, 0.5F},
      {"bare_array_box", R"([{"class_name":"cat","score":0.5,"box":[10,20,60,70]}])", 0, {20, 40, 120, 140}, 0.5F},
      {"fenced_json", "Here you go:\n```json\n{\"detections\":[{\"class_name\":\"cat\",\"bbox_xyxy\":[10,20,60,70]}]}\n```\nDone.",
       0, {20, 40, 120, 140}, 1.0F},
      {"fence_without_tag", "```\n[{\"label\":\"dog\",\"bbox\":[10,20,60,70],\"score\":0.75}]\n```", 1, {20, 40, 120, 140}, 0.75F},
      {"prose_around_json", "I found one [1] object: {\"detections\": [{\"class_name\": \"cat\", \"score\": 0.8, "
                            "\"bbox_xyxy\": [10, 20, 60, 70]}]} - hope {this} helps.",
       0, {20, 40, 120, 140}, 0.8F},
      {"brackets_inside_strings", R"(note "{[" {"detections":[{"class_name":"cat ]}","score":0.8,"bbox_xyxy":[1,2,3,4]},{"class_name":"cat","score":0.8,"bbox_xyxy":[10,20,60,70]}]})",
       0, {20, 40, 120, 140}, 0.8F},
      {"xyxy_keys", R"([{"class_name":"dog","x1":10,"y1":20,"x2":60,"y2":70}])", 1, {20, 40, 120, 140}, 1.0F},
      {"normalised_values", R"([{"class_name":"dog","bbox":[0.05,0.2,0.3,0.7]}])", 1, {20, 40, 120, 140}, 1.0F},
      {"gemini_box_2d", R"([{"label":"dog","box_2d":[200,50,700,300]}])", 1, {20, 40, 120, 140}, 1.0F},
      {"qwen_bbox_2d_pixels", R"([{"label":"dog","bbox_2d":[10,20,60,70]}])", 1, {20, 40, 120, 140}, 1.0F},
      {"class_case_and_spaces", R"([{"class_name":"  Traffic LIGHT ","bbox":[10,20,60,70]}])", 2, {20, 40, 120, 140}, 1.0F},
      {"alias_any_case", R"([{"class_name":"kitty","bbox":[10,20,60,70]}])", 0, {20, 40, 120, 140}, 1.0F},
      {"alias_to_other_case", R"([{"class_name":"Puppy","bbox":[10,20,60,70]}])", 1, {20, 40, 120, 140}, 1.0F},
      {"class_id_only", R"([{"class_id":1,"bbox":[10,20,60,70]}])", 1, {20, 40, 120, 140}, 1.0F},
      {"score_percent", R"([{"class_name":"dog","score":85,"bbox":[10,20,60,70]}])", 1, {20, 40, 120, 140}, 0.85F},
      {"confidence_key", R"([{"class_name":"dog","confidence":0.6,"bbox":[10,20,60,70]}])", 1, {20, 40, 120, 140}, 0.6F},
      {"clipped_to_image", R"([{"class_name":"dog","bbox":[-10,-5,260,70]}])", 1, {0, 0, 400, 140}, 1.0F},
      {"trailing_comment_ignored", "{\"detections\":[{\"class_name\":\"dog\",\"bbox\":[10,20,60,70]} /* ok */]}", 1,
       {20, 40, 120, 140}, 1.0F},
  };
  return rows;
}

}  // namespace

class ReplyForm : public testing::TestWithParam<Form> {};

TEST_P(ReplyForm, GivesOneDetectionInOriginalPixels) {
  const Form& form = GetParam();
  auto parsed = parse_detections(form.content, options());
  ASSERT_TRUE(parsed) << parsed.error().reason << ": " << parsed.error().error.message;
  ASSERT_EQ(parsed->detections.size(), 1U) << json(parsed->dropped).dump();
  const auto& d = parsed->detections[0];
  EXPECT_EQ(d.class_id, form.class_id);
  EXPECT_EQ(d.class_name, options().class_names[static_cast<size_t>(form.class_id)]);
  EXPECT_FLOAT_EQ(d.score, form.score);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(d.bbox_xyxy[i], form.box[i], 1e-3) << i;
}

INSTANTIATE_TEST_SUITE_P(EveryForm, ReplyForm, testing::ValuesIn(forms()),
                         [](const testing::TestParamInfo<Form>& row) { return std::string(row.param.name); });

TEST(ReplyParser, QwenBbox2dOnTheThousandGridWhenSwitchedOn) {
  auto o = options();
  o.bbox_2d_on_1000_grid = true;
  auto parsed = parse_detections(R"([{"label":"cat","bbox_2d":[50,200,300,700]}])", o);
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->detections.size(), 1U);
  EXPECT_EQ(parsed->detections[0].bbox_xyxy, (std::array<float, 4>{20, 40, 120, 140}));
}

TEST(ReplyParser, EmptyListsAreAnswersWithoutDetections) {
  for (const char* content : {"[]", R"({"detections": []})", "```json\n{\"objects\":[]}\n```", "None here: []"}) {
    auto parsed = parse_detections(content, options());
    ASSERT_TRUE(parsed) << content;
    EXPECT_TRUE(parsed->detections.empty()) << content;
    EXPECT_TRUE(parsed->dropped.empty()) << content;
  }
}

TEST(ReplyParser, ContentWithoutUsableJsonFailsWithNoJson) {
  for (const char* content : {"", "I cannot see any image.", "{not json}", "[1, 2, 3]", R"({"result": "none"})",
                              "```json\n{\"detections\": [\n```", "{\"detections\": {}}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"}) {
    auto parsed = parse_detections(content, options());
    ASSERT_FALSE(parsed) << content;
    EXPECT_EQ(parsed.error().reason, "no_json") << content;
  }
}

TEST(ReplyParser, MalformedDetectionsAreDroppedAndCountedByReason) {
  const std::string content = R"({"detections": [
      {"class_name": "dog", "score": 0.9, "bbox": [10, 20, 60, 70]},
      "dog",
      {"score": 0.9, "bbox": [10, 20, 60, 70]},
      {"class_name": 7, "bbox": [10, 20, 60, 70]},
      {"class_name": "horse", "bbox": [10, 20, 60, 70]},
      {"class_id": 9, "bbox": [10, 20, 60, 70]},
      {"class_id": "1", "bbox": [10, 20, 60, 70]},
      {"class_id": 1.5, "bbox": [10, 20, 60, 70]},
      {"class_name": "dog"},
      {"class_name": "dog", "bbox": [10, 20, 60]},
      {"class_name": "dog", "bbox": ["10", "20", "60", "70"]},
      {"class_name": "dog", "bbox": [10, 20, 60, null]},
      {"class_name": "dog", "x1": 10, "y1": 20, "x2": 60},
      {"class_name": "dog", "bbox": [60, 20, 10, 70]},
      {"class_name": "dog", "bbox": [300, 200, 400, 300]},
      {"class_name": "dog", "bbox": [10, 20, 10.2, 70]},
      {"class_name": "dog", "bbox": [10, 20, 60, 70], "score": "0.9"},
      {"class_name": "dog", "bbox": [10, 20, 60, 70], "score": -0.1},
      {"class_name": "dog", "bbox": [10, 20, 60, 70], "score": 250},
      {"class_name": "dog", "bbox": [10, 20, 60, 70], "score": true},
      {"class_name": "dog", "bbox": [10, 20, 60, 70], "score": 0.1}
  ]})";
  auto parsed = parse_detections(content, options());
  ASSERT_TRUE(parsed) << parsed.error().error.message;
  EXPECT_EQ(parsed->detections.size(), 1U);
  const std::map<std::string, std::int64_t> expected = {
      {"not_an_object", 1}, {"no_class", 1}, {"bad_class", 3}, {"unknown_class", 2},  {"no_box", 1},
      {"bad_box", 4},       {"degenerate_box", 3}, {"bad_score", 4}, {"below_confidence", 1}};
  EXPECT_EQ(parsed->dropped, expected) << json(parsed->dropped).dump();
}

TEST(ReplyParser, TooManyDetectionsAreCappedAndCounted) {
  json items = json::array();
  for (int i = 0; i < 1005; ++i) items.push_back({{"class_name", "cat"}, {"bbox", {10, 20, 60, 70}}});
  auto parsed = parse_detections(items.dump(), options());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->detections.size(), 1000U);
  EXPECT_EQ(parsed->dropped.at("too_many"), 5);
}

TEST(ReplyParser, WithoutAnImageSizeTheReplyCannotBeMapped) {
  auto o = options();
  o.sent_width = 0;
  auto parsed = parse_detections("[]", o);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().reason, "bad_image_size");
}

TEST(ReplyParser, FindsTheFirstFencedBlockThatHasTheShape) {
  const auto value = find_reply_json("```python\nprint([1])\n```\nthen\n```json\n{\"objects\": []}\n```");
  ASSERT_TRUE(value);
  EXPECT_TRUE(value->contains("objects"));
}

TEST(ChatResponse, ReadsStringContentAndUsage) {
  const std::string body =
      R"({"choices":[{"message":{"role":"assistant","content":"[]"}}],"usage":{"prompt_tokens":812,"completion_tokens":9,"total_tokens":821}})";
  auto reply = parse_chat_response(body);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->content, "[]");
  ASSERT_TRUE(reply->usage);
  EXPECT_EQ(reply->usage->prompt_tokens, 812);
  EXPECT_EQ(reply->usage->completion_tokens, 9);
  EXPECT_EQ(reply->usage->total_tokens, 821);
}

TEST(ChatResponse, JoinsTextPartsAndSkipsOthers) {
  const std::string body =
      R"({"choices":[{"message":{"content":[{"type":"text","text":"{\"detections\":"},{"type":"image_url","image_url":{}},{"type":"output_text","text":"[]}"},42]}}]})";
  auto reply = parse_chat_response(body);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->content, "{\"detections\":\n[]}");
  EXPECT_FALSE(reply->usage);
  EXPECT_TRUE(parse_detections(reply->content, options()));
}

TEST(ChatResponse, UsageWithBadFieldsKeepsTheGoodOnes) {
  auto reply = parse_chat_response(R"({"choices":[{"message":{"content":"[]"}}],"usage":{"prompt_tokens":-3,"completion_tokens":4}})");
  ASSERT_TRUE(reply);
  ASSERT_TRUE(reply->usage);
  EXPECT_EQ(reply->usage->prompt_tokens, 0);
  EXPECT_EQ(reply->usage->completion_tokens, 4);
  EXPECT_EQ(reply->usage->total_tokens, 4);
  auto none = parse_chat_response(R"({"choices":[{"message":{"content":"[]"}}],"usage":{"total_tokens":"12"}})");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->usage);
}

TEST(ChatResponse, EnvelopesWithoutTextContentAreBadResponses) {
  for (const char* body : {"", "garbage", "[]", "{}", R"({"choices":[]})", R"({"choices":[1]})", R"({"choices":[{}]})",
                           R"({"choices":[{"message":{"content":null}}]})", R"({"choices":[{"message":{"content":""}}]})",
                           R"({"choices":[{"message":{"content":[{"type":"image_url"}]}}]})",
                           R"({"error":{"message":"overloaded"}})"}) {
    auto reply = parse_chat_response(body);
    ASSERT_FALSE(reply) << body;
    EXPECT_EQ(reply.error().reason, "bad_response") << body;
  }
  auto refused = parse_chat_response(R"({"choices":[{"message":{"content":null,"refusal":"I can't help with that."}}]})");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().error.message.find("refused"), std::string::npos);
}
