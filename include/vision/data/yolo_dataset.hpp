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
  std::size_t train_unlabeled = 0;    // images of each split without a label file
  std::size_t val_unlabeled = 0;
};

struct DatasetOptions {
  std::filesystem::path dir;              // the folder holding dataset.yaml, or the yaml itself
  std::vector<std::string> class_names;   // class_map.names; must match the yaml's names
  LabelStrictness strictness = LabelStrictness::lenient;
};

// What Vision writes into dataset.yaml besides `path` (the folder it is in, made absolute) and
// `nc`: the splits, relative to that folder (image folders or .txt lists), and the class names.
struct DatasetYaml {
  std::string train;
  std::string val;
  std::vector<std::string> names;
  std::string comment;  // a first "# …" line, e.g. the program that wrote it; none when empty
};

// Writes <dir>/dataset.yaml (yaml-cpp quotes what needs quoting: paths and names with spaces,
// '#' or ':' read back as written) through a temporary file and a rename.
Expected<void> write_dataset_yaml(const std::filesystem::path& dir, const DatasetYaml& yaml);

// The class names of a dataset.yaml (a list or an {id: name} map); empty when it names none.
Expected<std::vector<std::string>> read_dataset_yaml_names(const std::filesystem::path& yaml_file);

// Fails when a split has images but not one label file (Ultralytics' "No labels found"): an
// image without a label file is a background, and a split of only those is a wrong folder.
Expected<YoloDataset> load_yolo_dataset(const DatasetOptions& options);

// "12 of 400 train images have no label file (e.g. …/labels/train/x.txt): they count as
// backgrounds", one sentence per split; empty when every image has one.
std::vector<std::string> unlabeled_warnings(const YoloDataset& dataset);

// The label file Ultralytics expects for an image.
std::filesystem::path label_path_for(const std::filesystem::path& image);

// {root, yaml, names, train: {images, backgrounds, boxes, per_class}, val: {…},
//  problems (first 20), problems_count}; each split also counts `unlabeled` images
nlohmann::json summarize(const YoloDataset& dataset);

}  // namespace vision
