// The reply parser: what a vision LLM answered through the chat-completions API, turned into
// Detections in the original image's pixels. Pure functions of their input: anything malformed
// drops that detection or that reply, counted by reason; nothing throws out of here.
//
// Accepted forms (the list, as models really answer):
//   content   a string, or a list of parts of which the {"type":"text","text":…} ones count
//   JSON      fenced in ``` (any language tag) or embedded in prose: the first balanced object
//             or array that has the shape below
//   top level {"detections":[…]} or {"objects":[…]} or a bare array
//   class     class_name | label | class (trimmed, any letter case, aliases), else class_id
//   box       bbox_xyxy | bbox | box = [x1,y1,x2,y2]; x1,y1,x2,y2 keys; box_2d = [y1,x1,y2,x2]
//             on a 0-1000 grid (Gemini); bbox_2d = [x1,y1,x2,y2] in pixels of the image sent
//             or on a 0-1000 grid (Qwen-VL, a switch). Pixel forms whose values are all <= 1
//             are read as normalised. Boxes are mapped to the original image and clipped.
//   score     score | confidence in 0-1, or 0-100 (scaled); missing = 1.0
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vision/core/contracts.hpp"
#include "vision/core/error.hpp"

namespace vision::llm {

// Why a request or a reply failed, as the run counts it ("timeout", "http_429", "no_json", …),
// with the error to log.
struct LlmError {
  std::string reason;
  Error error;
};

template <class T>
using LlmExpected = std::expected<T, LlmError>;

struct TokenUsage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::int64_t total_tokens = 0;
};

// The part of a chat-completions response body that matters here.
struct ChatReply {
  std::string content;              // the text parts, joined by newlines
  std::optional<TokenUsage> usage;  // when the API reported one
};

// Reasons: "bad_response" (not a chat completion with text content), "reply_too_large".
LlmExpected<ChatReply> parse_chat_response(std::string_view body);

struct ReplyParseOptions {
  std::vector<std::string> class_names;               // class_map.names; a detection's class_id indexes it
  std::map<std::string, std::string> class_aliases;   // alias → class name (any letter case)
  float confidence = 0.0F;                            // detections scoring below it are dropped
  bool bbox_2d_on_1000_grid = false;                  // Qwen-VL's older 0-1000 bbox_2d
  int sent_width = 0;                                 // the image the model saw
  int sent_height = 0;
  int original_width = 0;                             // the image the boxes are for
  int original_height = 0;
};

struct ReplyDetections {
  std::vector<Detection> detections;
  // Dropped detections by reason: not_an_object, no_class, bad_class, unknown_class, no_box,
  // bad_box, degenerate_box, bad_score, below_confidence, too_many.
  std::map<std::string, std::int64_t> dropped;
};

// Reasons: "no_json" (no JSON of the accepted shapes in the content), "reply_too_large",
// "bad_image_size" (the options name no image).
LlmExpected<ReplyDetections> parse_detections(std::string_view content, const ReplyParseOptions& options);

// The JSON the content carries: the first fenced block, else the first balanced object or
// array in the prose, that parses and has an accepted top level. Exposed for tests.
std::optional<nlohmann::json> find_reply_json(std::string_view content);

}  // namespace vision::llm
