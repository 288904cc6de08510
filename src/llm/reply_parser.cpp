#include "vision/llm/reply_parser.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>

#include <nlohmann/json.hpp>

namespace vision::llm {

namespace {

using nlohmann::json;

// A response or a content beyond these is not a detection list: refuse it before parsing.
constexpr std::size_t k_max_body_bytes = 16u << 20;
constexpr std::size_t k_max_content_bytes = 4u << 20;
// Prose with many brackets costs one scan per candidate start; the first ones are enough.
constexpr int k_max_json_candidates = 64;
constexpr int k_max_json_depth = 32;
constexpr std::size_t k_max_detections = 1000;
constexpr double k_grid = 1000.0;        // box_2d and Qwen's older bbox_2d
constexpr double k_min_box_side = 1.0;   // pixels of the original image

LlmError reply_error(std::string reason, std::string message) {
  return {std::move(reason), Error{ErrorCode::invalid_data, std::move(message)}};
}

std::string lower_trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  std::string out(text.substr(first, last - first + 1));
  std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The end (one past) of the balanced object or array that starts at `start`, skipping
// brackets inside strings; npos when it is cut short, mismatched or nested too deep.
std::size_t balanced_end(std::string_view text, std::size_t start) {
  std::string closers;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (closers.size() >= static_cast<std::size_t>(k_max_json_depth)) return std::string_view::npos;
      closers.push_back(c == '{' ? '}' : ']');
    } else if (c == '}' || c == ']') {
      if (closers.empty() || closers.back() != c) return std::string_view::npos;
      closers.pop_back();
      if (closers.empty()) return i + 1;
    }
  }
  return std::string_view::npos;
}

// A detections list: an array that is empty or holds an object, or an object with a
// "detections" or "objects" array.
bool accepted_top_level(const json& value) {
  if (value.is_array()) return value.empty() || std::ranges::any_of(value, [](const json& e) { return e.is_object(); });
  if (!value.is_object()) return false;
  for (const char* key : {"detections", "objects"}) {
    const auto it = value.find(key);
    if (it != value.end() && it->is_array()) return true;
  }
  return false;
}

// The first balanced, parseable, accepted JSON value in `text`. Valid JSON of another shape is
// passed over whole, so nothing nested inside it (an inner "[]") is taken for the answer; a
// bracket that does not start valid JSON (prose, a quote, a broken reply) is passed over alone.
std::optional<json> first_json_in(std::string_view text) {
  int candidates = 0;
  for (std::size_t at = text.find_first_of("{["); at != std::string_view::npos && candidates < k_max_json_candidates;
       ++candidates) {
    const std::size_t end = balanced_end(text, at);
    json value = end == std::string_view::npos ? json(json::value_t::discarded)
                                               : json::parse(text.substr(at, end - at), nullptr, false, true);
    if (value.is_discarded()) {
      at = text.find_first_of("{[", at + 1);
      continue;
    }
    if (accepted_top_level(value)) return value;
    at = text.find_first_of("{[", end);
  }
  return std::nullopt;
}

const json* detections_array(const json& value) {
  if (value.is_array()) return &value;
  for (const char* key : {"detections", "objects"}) {
    const auto it = value.find(key);
    if (it != value.end() && it->is_array()) return &*it;
  }
  return nullptr;
}

// A JSON number (not a bool, not a string), finite.
std::optional<double> finite_number(const json& value) {
  if (!value.is_number()) return std::nullopt;
  const double number = value.get<double>();
  if (!std::isfinite(number)) return std::nullopt;
  return number;
}

std::optional<std::array<double, 4>> four_numbers(const json& value) {
  if (!value.is_array() || value.size() != 4) return std::nullopt;
  std::array<double, 4> out{};
  for (std::size_t i = 0; i < 4; ++i) {
    const auto number = finite_number(value[i]);
    if (!number) return std::nullopt;
    out[i] = *number;
  }
  return out;
}

struct Outcome {
  std::optional<Detection> detection;
  const char* dropped = nullptr;  // the reason, when there is no detection
};

Outcome drop(const char* reason) { return {std::nullopt, reason}; }

// The class: by name (class_name, label, class) when one is given, else by class_id.
Outcome read_class(const json& item, const ReplyParseOptions& options, Detection& d) {
  for (const char* key : {"class_name", "label", "class"}) {
    const auto it = item.find(key);
    if (it == item.end()) continue;
    if (!it->is_string()) return drop("bad_class");
    std::string wanted = lower_trimmed(it->get_ref<const std::string&>());
    for (const auto& [alias, name] : options.class_aliases) {
      if (lower_trimmed(alias) == wanted) {
        wanted = lower_trimmed(name);
        break;
      }
    }
    for (std::size_t i = 0; i < options.class_names.size(); ++i) {
      if (lower_trimmed(options.class_names[i]) == wanted) {
        d.class_id = static_cast<int>(i);
        d.class_name = options.class_names[i];
        return {d, nullptr};
      }
    }
    return drop("unknown_class");
  }
  const auto it = item.find("class_id");
  if (it == item.end()) return drop("no_class");
  const auto id = finite_number(*it);
  if (!id || *id != std::floor(*id)) return drop("bad_class");
  if (*id < 0 || *id >= static_cast<double>(options.class_names.size())) return drop("unknown_class");
  d.class_id = static_cast<int>(*id);
  d.class_name = options.class_names[static_cast<std::size_t>(d.class_id)];
  return {d, nullptr};
}

// The box in pixels of the image sent, as x1, y1, x2, y2; a reason when there is none.
std::expected<std::array<double, 4>, const char*> read_box(const json& item, const ReplyParseOptions& options) {
  const auto w = static_cast<double>(options.sent_width);
  const auto h = static_cast<double>(options.sent_height);
  const auto pixels_or_normalised = [&](std::array<double, 4> b) {
    if (std::ranges::all_of(b, [](double v) { return v <= 1.0; })) return std::array{b[0] * w, b[1] * h, b[2] * w, b[3] * h};
    return b;
  };
  const auto on_grid = [&](std::array<double, 4> b) {
    return std::array{b[0] / k_grid * w, b[1] / k_grid * h, b[2] / k_grid * w, b[3] / k_grid * h};
  };
  for (const char* key : {"bbox_xyxy", "bbox", "box"}) {
    const auto it = item.find(key);
    if (it == item.end()) continue;
    const auto box = four_numbers(*it);
    if (!box) return std::unexpected("bad_box");
    return pixels_or_normalised(*box);
  }
  if (item.contains("x1") || item.contains("y1") || item.contains("x2") || item.contains("y2")) {
    std::array<double, 4> box{};
    const std::array<const char*, 4> keys = {"x1", "y1", "x2", "y2"};
    for (std::size_t i = 0; i < 4; ++i) {
      const auto it = item.find(keys[i]);
      const auto number = it == item.end() ? std::nullopt : finite_number(*it);
      if (!number) return std::unexpected("bad_box");
      box[i] = *number;
    }
    return pixels_or_normalised(box);
  }
  if (const auto it = item.find("box_2d"); it != item.end()) {
    const auto box = four_numbers(*it);  // [y1, x1, y2, x2]
    if (!box) return std::unexpected("bad_box");
    return on_grid({(*box)[1], (*box)[0], (*box)[3], (*box)[2]});
  }
  if (const auto it = item.find("bbox_2d"); it != item.end()) {
    const auto box = four_numbers(*it);
    if (!box) return std::unexpected("bad_box");
    return options.bbox_2d_on_1000_grid ? on_grid(*box) : pixels_or_normalised(*box);
  }
  return std::unexpected("no_box");
}

Outcome read_detection(const json& item, const ReplyParseOptions& options) {
  if (!item.is_object()) return drop("not_an_object");
  Detection d;
  if (auto cls = read_class(item, options, d); !cls.detection) return cls;

  const auto box = read_box(item, options);
  if (!box) return drop(box.error());
  const double sx = static_cast<double>(options.original_width) / options.sent_width;
  const double sy = static_cast<double>(options.original_height) / options.sent_height;
  const double x1 = std::clamp((*box)[0] * sx, 0.0, static_cast<double>(options.original_width));
  const double y1 = std::clamp((*box)[1] * sy, 0.0, static_cast<double>(options.original_height));
  const double x2 = std::clamp((*box)[2] * sx, 0.0, static_cast<double>(options.original_width));
  const double y2 = std::clamp((*box)[3] * sy, 0.0, static_cast<double>(options.original_height));
  if (x2 - x1 < k_min_box_side || y2 - y1 < k_min_box_side) return drop("degenerate_box");
  d.bbox_xyxy = {static_cast<float>(x1), static_cast<float>(y1), static_cast<float>(x2), static_cast<float>(y2)};

  double score = 1.0;
  for (const char* key : {"score", "confidence"}) {
    const auto it = item.find(key);
    if (it == item.end()) continue;
    const auto number = finite_number(*it);
    if (!number || *number < 0 || *number > 100) return drop("bad_score");
    score = *number > 1.0 ? *number / 100.0 : *number;
    break;
  }
  d.score = static_cast<float>(score);
  if (d.score < options.confidence) return drop("below_confidence");
  if (check(d)) return drop("bad_box");  // the contract's own rules, as a last guard
  return {d, nullptr};
}

std::string text_parts(const json& content) {
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object()) continue;
    const auto it = part.find("text");
    if (it == part.end() || !it->is_string()) continue;
    // "text" in chat completions, "output_text" in the newer responses form.
    const auto type = part.find("type");
    if (type != part.end() && *type != "text" && *type != "output_text") continue;
    text += (text.empty() ? "" : "\n") + it->get_ref<const std::string&>();
  }
  return text;
}

std::optional<std::int64_t> count_field(const json& usage, const char* key) {
  const auto it = usage.find(key);
  if (it == usage.end() || !it->is_number_integer()) return std::nullopt;
  const auto value = it->get<std::int64_t>();
  if (value < 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<nlohmann::json> find_reply_json(std::string_view content) {
  // Fenced blocks first: ```json … ``` (the tag is whatever follows the fence on its line).
  for (std::size_t fence = content.find("```"); fence != std::string_view::npos;) {
    const std::size_t line_end = content.find('\n', fence + 3);
    if (line_end == std::string_view::npos) break;
    const std::size_t close = content.find("```", line_end);
    const std::string_view block = content.substr(line_end, close == std::string_view::npos ? std::string_view::npos : close - line_end);
    if (auto value = first_json_in(block)) return value;
    if (close == std::string_view::npos) break;
    fence = content.find("```", close + 3);
  }
  return first_json_in(content);
}

LlmExpected<ChatReply> parse_chat_response(std::string_view body) {
  if (body.size() > k_max_body_bytes) {
    return std::unexpected(reply_error("reply_too_large", "reply of " + std::to_string(body.size()) + " bytes"));
  }
  const json response = json::parse(body, nullptr, false);
  if (response.is_discarded() || !response.is_object()) {
    return std::unexpected(reply_error("bad_response", "the reply is not a JSON object"));
  }
  const auto choices = response.find("choices");
  if (choices == response.end() || !choices->is_array() || choices->empty() || !(*choices)[0].is_object()) {
    return std::unexpected(reply_error("bad_response", "the reply has no choices[0]"));
  }
  const json& choice = (*choices)[0];
  const auto message = choice.find("message");
  if (message == choice.end() || !message->is_object()) {
    return std::unexpected(reply_error("bad_response", "the reply has no choices[0].message"));
  }
  ChatReply reply;
  const auto content = message->find("content");
  if (content != message->end() && content->is_string()) {
    reply.content = content->get<std::string>();
  } else if (content != message->end() && content->is_array()) {
    reply.content = text_parts(*content);
  }
  if (reply.content.empty()) {
    const auto refusal = message->find("refusal");
    const std::string why = refusal != message->end() && refusal->is_string()
                                ? "the model refused: " + refusal->get<std::string>().substr(0, 200)
                                : "the reply has no text content";
    return std::unexpected(reply_error("bad_response", why));
  }
  if (const auto usage = response.find("usage"); usage != response.end() && usage->is_object()) {
    const auto prompt = count_field(*usage, "prompt_tokens");
    const auto completion = count_field(*usage, "completion_tokens");
    const auto total = count_field(*usage, "total_tokens");
    if (prompt || completion || total) {
      reply.usage = TokenUsage{prompt.value_or(0), completion.value_or(0),
                               total.value_or(prompt.value_or(0) + completion.value_or(0))};
    }
  }
  return reply;
}

LlmExpected<ReplyDetections> parse_detections(std::string_view content, const ReplyParseOptions& options) {
  if (options.sent_width <= 0 || options.sent_height <= 0 || options.original_width <= 0 || options.original_height <= 0) {
    return std::unexpected(reply_error("bad_image_size", "the image sent has no size"));
  }
  if (content.size() > k_max_content_bytes) {
    return std::unexpected(reply_error("reply_too_large", "content of " + std::to_string(content.size()) + " bytes"));
  }
  const auto value = find_reply_json(content);
  if (!value) return std::unexpected(reply_error("no_json", "no detections JSON in the reply"));
  const json* items = detections_array(*value);
  ReplyDetections out;
  for (const auto& item : *items) {
    if (out.detections.size() >= k_max_detections) {
      ++out.dropped["too_many"];
      continue;
    }
    Outcome outcome = read_detection(item, options);
    if (outcome.detection) out.detections.push_back(std::move(*outcome.detection));
    else ++out.dropped[outcome.dropped];
  }
  return out;
}

}  // namespace vision::llm
