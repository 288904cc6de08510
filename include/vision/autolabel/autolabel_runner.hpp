// The loop every autolabel mode shares: walk the unlabeled folder (recursive), skip what
// on_conflict keeps, read each image, hand batches to the mode's labeler, write what it found
// into the labeled data set (see labeled_dataset.hpp), and count it all. A mode only says how
// a batch of images becomes detections: the model mode by the inference engine, the llm mode
// by a vision LLM.
#pragma once

#include <cstdint>
#include <expected>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "vision/autolabel/labeled_dataset.hpp"
#include "vision/core/contracts.hpp"
#include "vision/core/error.hpp"

namespace vision {

// What every mode shares: where the images come from and go, and how the data set is written.
struct AutolabelJob {
  std::filesystem::path unlabeled_dir;
  std::filesystem::path labeled_dir;
  std::vector<std::string> class_names;  // class_map.names
  OnConflict on_conflict = OnConflict::skip;
  bool visualize = true;
  double val_fraction = 0.2;
  int batch_size = 1;           // images per labeler call
  std::int64_t max_images = 0;  // images handed to the labeler; 0 = all
  std::string provenance;       // LabelRecord.source; the mode sets it
};

struct ImageToLabel {
  std::filesystem::path source;    // the input file
  std::filesystem::path relative;  // its path under the unlabeled folder
  cv::Mat image;
  std::vector<unsigned char> encoded;  // the file's bytes, as read
};

struct ImageLabels {
  std::vector<Detection> detections;
  nlohmann::json record_fields = nlohmann::json::object();  // added to the LabelRecord (audit)
};

// Why one image could not be labeled: `reason` is counted ("unreadable", "timeout", …).
struct LabelFailure {
  std::string reason;
  std::string message;
};

// Labels a batch: one result per image, in order. An error for the whole batch ends the run.
using BatchLabeler =
    std::function<Expected<std::vector<std::expected<ImageLabels, LabelFailure>>>(const std::vector<ImageToLabel>&)>;

struct AutolabelReport {
  std::int64_t images = 0;    // images found
  std::int64_t failures = 0;  // unreadable images, labeler failures and write errors
  std::map<std::string, std::int64_t> failures_by_reason;
  std::int64_t not_attempted = 0;  // left for a later run by max_images or a stop
  LabeledDatasetCounts counts;
  std::map<std::string, std::int64_t> detections_per_class;  // boxes found, by class
  std::int64_t dropped_unknown_class = 0;
  std::vector<std::string> failed;  // "<file>: <reason>", first 50
  bool interrupted = false;
};

// Runs to the end, or until interrupt::requested(); the dataset files are written either way.
Expected<AutolabelReport> run_autolabel(const AutolabelJob& job, const BatchLabeler& label);

// artifacts.json form: counts and paths.
nlohmann::json to_json(const AutolabelReport& report, const std::filesystem::path& labeled_dir);

}  // namespace vision
