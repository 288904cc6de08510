// YOLO label files: one `class cx cy w h` line per box, normalised to [0, 1]. Bad lines are
// reported as "<file>:<line>: <problem>" and either skipped (lenient) or fatal (strict).
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "vision/core/error.hpp"

namespace vision {

struct YoloBox {
  int class_id = 0;
  float cx = 0, cy = 0, w = 0, h = 0;  // normalised to the image size
};

struct YoloLabels {
  std::vector<YoloBox> boxes;
  std::vector<std::string> problems;  // skipped lines, "<file>:<line>: <problem>"
  bool file_found = true;             // read_yolo_labels: false when there is no label file
};

// A box as pixel corners [x1, y1, x2, y2] of a width × height image, and back. The way in clips
// the corners to the image and gives nullopt when less than 1/1000 of a pixel is left on a side;
// the way out does not clip. Width = height = 1 gives normalised corners.
std::optional<YoloBox> yolo_box_from_xyxy(int class_id, const std::array<float, 4>& xyxy, int width, int height);
std::array<float, 4> yolo_box_to_xyxy(const YoloBox& box, int width, int height);

enum class LabelStrictness { lenient, strict };

// Parses label text; `num_classes` bounds the class ids (0 = no bound). `origin` names the
// file in messages. A missing file is not an error here: callers decide (no labels = no boxes).
Expected<YoloLabels> parse_yolo_labels(const std::string& text, const std::string& origin,
                                       int num_classes, LabelStrictness strictness);
Expected<YoloLabels> read_yolo_labels(const std::filesystem::path& file, int num_classes,
                                      LabelStrictness strictness);

std::string format_yolo_line(const YoloBox& box);
// Writes the boxes (an empty file for none) through a temporary file and a rename.
Expected<void> write_yolo_labels(const std::filesystem::path& file, const std::vector<YoloBox>& boxes);

}  // namespace vision
