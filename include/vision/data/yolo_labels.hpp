// YOLO label files: one `class cx cy w h` line per box, normalised to [0, 1]. Bad lines are
// reported as "<file>:<line>: <problem>" and either skipped (lenient) or fatal (strict).
#pragma once

#include <filesystem>
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
