#include "vision/infer/model_info.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "vision/core/contracts.hpp"

namespace vision {

const char* model_format_name(ModelFormat format) {
  switch (format) {
    case ModelFormat::yolov8: return "yolov8";
    case ModelFormat::yolov8_transposed: return "yolov8_transposed";
    case ModelFormat::yolov5: return "yolov5";
    case ModelFormat::boxes_labels_scores: return "boxes_labels_scores";
  }
  return "unknown";
}

namespace {

// A class id as written in metadata; nullopt when it is not a whole number in range.
std::optional<int> class_id_of(std::string_view text) {
  std::int64_t id = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id < 0 || id >= k_max_class_count) return std::nullopt;
  return static_cast<int>(id);
}

}  // namespace

Expected<std::vector<std::string>> parse_names_metadata(const std::string& text) {
  std::map<int, std::string> by_id;
  const auto add = [&](std::string_view key, std::string name) -> Expected<void> {
    const auto id = class_id_of(key);
    if (!id) {
      return fail(ErrorCode::invalid_data, "names: class id " + std::string(key.substr(0, 24)) + " is not in 0.." +
                                               std::to_string(k_max_class_count - 1));
    }
    by_id[*id] = std::move(name);
    return {};
  };
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_array()) {
    if (j.size() > static_cast<size_t>(k_max_class_count)) {
      return fail(ErrorCode::invalid_data, "names: more than " + std::to_string(k_max_class_count) + " classes");
    }
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_string()) return fail(ErrorCode::invalid_data, "names[" + std::to_string(i) + "]: not a string");
      by_id[static_cast<int>(i)] = j[i].get<std::string>();
    }
  } else if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (!value.is_string()) return fail(ErrorCode::invalid_data, "names." + key.substr(0, 24) + ": not a string");
      if (auto ok = add(key, value.get<std::string>()); !ok) return std::unexpected(ok.error());
    }
  } else {
    // Python dict text: {0: 'person', 1: "traffic light"}. Scanned by hand: a regex recurses
    // per character and overflows the stack on long metadata.
    std::size_t at = 0;
    while (at < text.size()) {
      const std::size_t key = text.find_first_of("-0123456789", at);
      if (key == std::string::npos) break;
      std::size_t end = key + 1;
      while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
      std::size_t colon = text.find_first_not_of(" \t\n", end);
      if (colon == std::string::npos || text[colon] != ':') {
        at = end;
        continue;
      }
      const std::size_t open = text.find_first_not_of(" \t\n", colon + 1);
      if (open == std::string::npos || (text[open] != '\'' && text[open] != '"')) {
        at = colon + 1;
        continue;
      }
      std::size_t close = open + 1;
      while (close < text.size() && text[close] != text[open]) close += text[close] == '\\' ? 2 : 1;
      if (close >= text.size()) break;
      if (auto ok = add(std::string_view(text).substr(key, end - key), text.substr(open + 1, close - open - 1)); !ok) {
        return std::unexpected(ok.error());
      }
      at = close + 1;
    }
  }
  std::vector<std::string> names;
  if (by_id.empty()) return names;
  names.resize(static_cast<size_t>(by_id.rbegin()->first) + 1);
  for (size_t i = 0; i < names.size(); ++i) names[i] = "class" + std::to_string(i);
  for (const auto& [id, name] : by_id) names[static_cast<size_t>(id)] = name;
  return names;
}

namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  return text + "]";
}

const TensorSpec* find_output(const std::vector<TensorSpec>& outputs, const std::string& word) {
  for (const auto& o : outputs) {
    if (o.name.find(word) != std::string::npos) return &o;
  }
  return nullptr;
}

// The largest side `imgsz` may give (a 16K image).
constexpr std::int64_t k_max_side = 16384;

// (width, height) from Ultralytics' `imgsz` ("[h, w]" or "640"); (0, 0) when absent.
Expected<std::pair<int, int>> imgsz_from_metadata(const std::map<std::string, std::string>& metadata) {
  const auto it = metadata.find("imgsz");
  if (it == metadata.end()) return std::pair{0, 0};
  std::vector<int> values;
  const std::string& all = it->second;
  for (std::size_t at = all.find_first_of("-0123456789"); at != std::string::npos; at = all.find_first_of("-0123456789", at)) {
    std::size_t stop = at + 1;
    while (stop < all.size() && std::isdigit(static_cast<unsigned char>(all[stop]))) ++stop;
    const std::string text = all.substr(at, stop - at);
    at = stop;
    if (text == "-") continue;
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || value <= 0 || value > k_max_side) {
      return fail(ErrorCode::invalid_data, "imgsz: " + text.substr(0, 24) + " is not an image side (1.." + std::to_string(k_max_side) + ")");
    }
    values.push_back(static_cast<int>(value));
  }
  if (values.size() == 1) return std::pair{values[0], values[0]};
  if (values.size() >= 2) return std::pair{values[1], values[0]};  // Ultralytics: [h, w]
  return std::pair{0, 0};
}

}  // namespace

Expected<ModelInfo> describe_model(const std::vector<TensorSpec>& inputs,
                                   const std::vector<TensorSpec>& outputs,
                                   const std::map<std::string, std::string>& metadata,
                                   const std::string& origin) {
  ModelInfo info;
  info.metadata = metadata;
  if (const auto task = metadata.find("task"); task != metadata.end() && task->second != "detect") {
    return fail(ErrorCode::invalid_data, origin + ": a \"" + task->second +
                                             "\" model; only detection models are supported");
  }
  if (inputs.size() != 1) {
    return fail(ErrorCode::invalid_data, origin + ": expected one image input, found " + std::to_string(inputs.size()));
  }
  if (outputs.empty()) return fail(ErrorCode::invalid_data, origin + ": the model has no outputs");
  if (const auto names = metadata.find("names"); names != metadata.end()) {
    auto parsed = parse_names_metadata(names->second);
    if (!parsed) return fail(ErrorCode::invalid_data, origin + ": metadata " + parsed.error().message);
    info.names = std::move(*parsed);
  }
  if (const auto stride = metadata.find("stride"); stride != metadata.end()) {
    int value = 0;
    const auto& text = stride->second;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    info.stride = ec == std::errc() && value >= 1 && value <= 1024 ? value : 32;
  }
  const TensorSpec& input = inputs.front();
  info.input_name = input.name;
  const auto& in = input.shape;
  if (in.size() != 4 && in.size() != 3) {
    return fail(ErrorCode::invalid_data, origin + ": input \"" + input.name + "\" has shape " +
                                             shape_text(in) + "; expected [N, 3, H, W]");
  }
  const size_t h_axis = in.size() - 2;
  const size_t c_axis = in.size() - 3;
  if (in[c_axis] != 3 && in[c_axis] != -1) {
    return fail(ErrorCode::invalid_data, origin + ": input \"" + input.name + "\" has " +
                                             std::to_string(in[c_axis]) + " channels; expected 3");
  }
  info.dynamic_batch = in.size() == 4 && in[0] < 0;
  info.input_height = static_cast<int>(std::max<std::int64_t>(in[h_axis], 0));
  info.input_width = static_cast<int>(std::max<std::int64_t>(in[h_axis + 1], 0));

  const TensorSpec* boxes = find_output(outputs, "boxes");
  const TensorSpec* labels = find_output(outputs, "labels");
  const TensorSpec* scores = find_output(outputs, "scores");
  if (boxes && labels && scores) {
    info.format = ModelFormat::boxes_labels_scores;
    info.output_names = {boxes->name, labels->name, scores->name};
    info.dynamic_size = info.input_width == 0 || info.input_height == 0;
    info.num_classes = static_cast<int>(info.names.size());
    return info;
  }

  if (info.input_width == 0 || info.input_height == 0) {
    const auto size = imgsz_from_metadata(metadata);
    if (!size) return fail(ErrorCode::invalid_data, origin + ": metadata " + size.error().message);
    const auto [w, h] = *size;
    info.input_width = w > 0 ? w : 640;
    info.input_height = h > 0 ? h : 640;
  }
  const TensorSpec& out = outputs.front();
  info.output_names = {out.name};
  if (out.shape.size() != 3 || out.shape[1] <= 0 || out.shape[2] <= 0) {
    return fail(ErrorCode::invalid_data, origin + ": output \"" + out.name + "\" has shape " +
                                             shape_text(out.shape) +
                                             "; expected [N, 4+nc, A], [N, A, 5+nc] or "
                                             "boxes/labels/scores outputs");
  }
  const auto d1 = out.shape[1];
  const auto d2 = out.shape[2];
  const auto nc = static_cast<std::int64_t>(info.names.size());
  if (nc > 0 && d1 == 4 + nc) {
    info.format = ModelFormat::yolov8;
  } else if (nc > 0 && d2 == 4 + nc) {
    info.format = ModelFormat::yolov8_transposed;
  } else if (nc > 0 && d2 == 5 + nc) {
    info.format = ModelFormat::yolov5;
  } else if (nc > 0) {
    return fail(ErrorCode::invalid_data, origin + ": output shape " + shape_text(out.shape) +
                                             " does not fit the " + std::to_string(nc) +
                                             " class names in the model metadata");
  } else if (d1 < d2) {
    info.format = ModelFormat::yolov8;  // channels are far fewer than anchors
  } else {
    info.format = ModelFormat::yolov5;
  }
  switch (info.format) {
    case ModelFormat::yolov8: info.num_classes = static_cast<int>(d1 - 4); break;
    case ModelFormat::yolov8_transposed: info.num_classes = static_cast<int>(d2 - 4); break;
    case ModelFormat::yolov5: info.num_classes = static_cast<int>(d2 - 5); break;
    case ModelFormat::boxes_labels_scores: break;
  }
  if (info.num_classes > k_max_class_count) {
    return fail(ErrorCode::invalid_data, origin + ": output shape " + shape_text(out.shape) + " gives more than " +
                                             std::to_string(k_max_class_count) + " classes");
  }
  if (info.num_classes <= 0) {
    return fail(ErrorCode::invalid_data, origin + ": output shape " + shape_text(out.shape) + " leaves no class scores");
  }
  return info;
}

}  // namespace vision
