// Autolabel with a detection model (autolabel.mode = "model"): every image under the
// unlabeled folder (recursive) goes through the inference engine in batches, and the results
// become a trainable YOLO data set (see labeled_dataset.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vision/autolabel/labeled_dataset.hpp"
#include "vision/core/error.hpp"
#include "vision/infer/detector.hpp"

namespace vision {

struct ModelAutolabelOptions {
  std::filesystem::path unlabeled_dir;
  std::filesystem::path labeled_dir;
  std::vector<std::string> class_names;  // class_map.names
  OnConflict on_conflict = OnConflict::skip;
  bool visualize = true;
  int batch_size = 2;
  double val_fraction = 0.2;
  DetectorOptions detector;  // model path, confidence, threads
};

struct AutolabelReport {
  std::int64_t images = 0;    // images found
  std::int64_t failures = 0;  // unreadable images and write errors
  LabeledDatasetCounts counts;
  std::map<std::string, std::int64_t> detections_per_class;  // boxes the model found, by class
  std::int64_t dropped_unknown_class = 0;
  std::vector<std::string> failed;  // "<file>: <reason>", first 50
  bool interrupted = false;
};

// Runs to the end, or until interrupt::requested(); the dataset files are written either way.
Expected<AutolabelReport> run_model_autolabel(const ModelAutolabelOptions& options);

// artifacts.json form: counts and paths.
nlohmann::json to_json(const AutolabelReport& report, const std::filesystem::path& labeled_dir);

}  // namespace vision
