#include "vision/data/yolo_labels.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "vision/core/contracts.hpp"
#include "vision/core/run.hpp"

namespace vision {

namespace {
// Exporters round coordinates; a box edge a hair past the image border is still fine.
constexpr float k_coordinate_slack = 1e-3F;

// A token as a message shows it: at most 32 characters of a line that may be megabytes long.
std::string shown(const std::string& token) { return token.size() <= 32 ? token : token.substr(0, 32) + "…"; }

// nullopt for a blank line (no tokens) or a valid one in `box`, else the problem.
std::optional<std::string> parse_line(const std::string& line, int num_classes, YoloBox& box, bool& blank) {
  std::istringstream in(line);
  std::vector<std::string> tokens;
  for (std::string token; in >> token;) tokens.push_back(token);
  blank = tokens.empty();
  if (blank) return std::nullopt;
  double cls = 0;
  const auto parse = [](const std::string& text, auto& out) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
  };
  if (!parse(tokens[0], cls)) return "class id \"" + shown(tokens[0]) + "\" is not a number";
  if (cls != std::floor(cls) || cls < 0) return "class id " + shown(tokens[0]) + " must be an integer >= 0";
  const int limit = num_classes > 0 ? num_classes : k_max_class_count;
  if (cls >= limit) {
    return "class id " + shown(tokens[0]) + " is not in class_map (" + std::to_string(limit) + " classes)";
  }
  if (tokens.size() < 5) return "expected 5 values: class cx cy w h";
  if (tokens.size() > 5) return "expected 5 values: class cx cy w h (segment labels are not supported)";
  float values[4];
  for (int i = 0; i < 4; ++i) {
    if (!parse(tokens[static_cast<size_t>(i) + 1], values[i])) return "\"" + shown(tokens[static_cast<size_t>(i) + 1]) + "\" is not a number";
    if (!std::isfinite(values[i])) return "coordinates must be finite numbers";
  }
  box = {static_cast<int>(cls), values[0], values[1], values[2], values[3]};
  if (box.w <= 0 || box.h <= 0) return "width and height must be > 0";
  for (float v : values) {
    if (v < -k_coordinate_slack || v > 1 + k_coordinate_slack) {
      return "coordinates must be normalised to [0, 1]";
    }
  }
  return std::nullopt;
}
}  // namespace

Expected<YoloLabels> parse_yolo_labels(const std::string& text, const std::string& origin,
                                       int num_classes, LabelStrictness strictness) {
  YoloLabels labels;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    YoloBox box;
    bool blank = false;
    auto problem = parse_line(line, num_classes, box, blank);
    if (blank) continue;
    if (problem) {
      std::string message = origin + ":" + std::to_string(number) + ": " + *problem;
      if (strictness == LabelStrictness::strict) return fail(ErrorCode::invalid_data, message);
      labels.problems.push_back(std::move(message));
      continue;
    }
    labels.boxes.push_back(box);
  }
  return labels;
}

Expected<YoloLabels> read_yolo_labels(const std::filesystem::path& file, int num_classes,
                                      LabelStrictness strictness) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return YoloLabels{.file_found = false};
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(ErrorCode::io, "cannot read " + file.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_yolo_labels(buffer.str(), file.string(), num_classes, strictness);
}

std::optional<YoloBox> yolo_box_from_xyxy(int class_id, const std::array<float, 4>& xyxy, int width, int height) {
  const auto w = static_cast<float>(width);
  const auto h = static_cast<float>(height);
  const float x1 = std::clamp(xyxy[0], 0.0F, w);
  const float y1 = std::clamp(xyxy[1], 0.0F, h);
  const float x2 = std::clamp(xyxy[2], 0.0F, w);
  const float y2 = std::clamp(xyxy[3], 0.0F, h);
  if (x2 - x1 < 1e-3F || y2 - y1 < 1e-3F) return std::nullopt;
  return YoloBox{class_id, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h};
}

std::array<float, 4> yolo_box_to_xyxy(const YoloBox& box, int width, int height) {
  const auto w = static_cast<float>(width);
  const auto h = static_cast<float>(height);
  return {(box.cx - box.w / 2) * w, (box.cy - box.h / 2) * h, (box.cx + box.w / 2) * w, (box.cy + box.h / 2) * h};
}

std::string format_yolo_line(const YoloBox& box) {
  char line[96];
  std::snprintf(line, sizeof line, "%d %.6f %.6f %.6f %.6f", box.class_id, box.cx, box.cy, box.w,
                box.h);
  return line;
}

Expected<void> write_yolo_labels(const std::filesystem::path& file, const std::vector<YoloBox>& boxes) {
  std::string text;
  for (const auto& box : boxes) text += format_yolo_line(box) + "\n";
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  return write_file_atomic(file, text);
}

}  // namespace vision
