// Autolabel with a detection model (autolabel.mode = "model"): every image under the
// unlabeled folder (recursive) goes through the inference engine in batches, and the results
// become a trainable YOLO data set (see labeled_dataset.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "vision/autolabel/autolabel_runner.hpp"
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

// Runs to the end, or until interrupt::requested(); the dataset files are written either way.
Expected<AutolabelReport> run_model_autolabel(const ModelAutolabelOptions& options);

}  // namespace vision
