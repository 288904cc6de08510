// A YOLO-format data set: dataset.yaml (`path`, `train`, `val`, `names`) with splits given as
// image folders, list files (Ultralytics' `train: train.txt`) or lists of either. Labels are
// found as Ultralytics does: the last /images/ of an image path becomes /labels/ and the
// extension becomes .txt. Without a dataset.yaml, images/{train,val} (or train2017/val2017)
// under the folder are used.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vision/core/error.hpp"
#include "vision/data/yolo_labels.hpp"

namespace vision {

struct DatasetItem {
  std::filesystem::path image;
  std::filesystem::path label;  // may not exist: an image without objects
  std::vector<YoloBox> boxes;
};

struct YoloDataset {
  std::filesystem::path root;
  std::filesystem::path yaml;  // empty when the layout was found without one
  std::vector<std::string> names;
  std::vector<DatasetItem> train;
  std::vector<DatasetItem> val;
  std::vector<std::string> problems;  // skipped label lines, "<file>:<line>: <problem>"
};

struct DatasetOptions {
  std::filesystem::path dir;              // the folder holding dataset.yaml, or the yaml itself
  std::vector<std::string> class_names;   // class_map.names; must match the yaml's names
  LabelStrictness strictness = LabelStrictness::lenient;
};

Expected<YoloDataset> load_yolo_dataset(const DatasetOptions& options);

// The label file Ultralytics expects for an image.
std::filesystem::path label_path_for(const std::filesystem::path& image);

// {root, yaml, names, train: {images, backgrounds, boxes, per_class}, val: {…},
//  problems (first 20), problems_count}
nlohmann::json summarize(const YoloDataset& dataset);

}  // namespace vision
