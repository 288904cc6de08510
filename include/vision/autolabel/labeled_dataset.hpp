// The output side of autolabel: a YOLO data set under data.labeled_dir that `vision train` takes
// as it is. For an input image <rel> (its path under the unlabeled folder) it writes
//   images/<rel>                 a hard link to the input (a copy across file systems)
//   labels/<rel with .txt>       YOLO lines; an empty file when nothing was found
//   records/<rel with .json>     the LabelRecord: pixel boxes, scores, provenance
//   previews/<rel>               the image with boxes drawn (when visualize is on)
// and, at the end, dataset.yaml with train.txt / val.txt lists over every image in images/.
// An image's existing labels are its label file or, failing that, a flat LabelRecord of the
// Python original naming it (<labeled_dir>/<stem>.json, see data/label_records.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "vision/core/contracts.hpp"
#include "vision/core/error.hpp"
#include "vision/data/yolo_labels.hpp"

namespace vision {

enum class OnConflict { skip, overwrite, merge };
Expected<OnConflict> parse_on_conflict(const std::string& text);

// How an input image gets into images/: a hard link (a copy where the folders are on different
// file systems), a copy, or a symbolic link to the input's absolute path.
enum class ImageTransfer { hard_link, copy, symlink };
// "hard", "copy" or "symlink"; `what` names the setting in the error.
Expected<ImageTransfer> parse_image_transfer(const std::string& text, const std::string& what);

struct LabeledImage {
  std::filesystem::path source;    // the input file
  std::filesystem::path relative;  // its path under the unlabeled folder
  cv::Mat image;
  std::vector<Detection> detections;
  std::string provenance;  // LabelRecord.source, e.g. "model:/models/m.onnx"
  // More fields for the record (an LLM's raw reply, for audit); never replaces the record's own.
  nlohmann::json record_fields = nlohmann::json::object();
};

struct LabeledDatasetCounts {
  std::int64_t created = 0;      // images labeled for the first time
  std::int64_t overwritten = 0;  // existing labels replaced
  std::int64_t merged = 0;       // existing labels extended
  std::int64_t skipped = 0;      // existing labels kept (on_conflict = skip)
  std::int64_t detections = 0;   // boxes written (for merge: boxes added)
};

struct LabeledDatasetOptions {
  std::vector<std::string> class_names;  // class_map.names
  OnConflict on_conflict = OnConflict::skip;
  bool visualize = true;
  ImageTransfer image_transfer = ImageTransfer::hard_link;
  // Whether a flat record of the original counts as existing labels; off when those records are
  // what is being written (labels import).
  bool flat_records = true;
};

class LabeledDatasetWriter {
 public:
  LabeledDatasetWriter(std::filesystem::path labeled_dir, LabeledDatasetOptions options);

  // True when on_conflict = skip and the image (`source`, at `relative` under the unlabeled
  // folder) already has labels: no need to label it.
  bool should_skip(const std::filesystem::path& relative, const std::filesystem::path& source) const;
  // Counts an image passed over by should_skip.
  void count_skipped() { ++m_counts.skipped; }

  Expected<void> write(const LabeledImage& labeled);

  // dataset.yaml, train.txt and val.txt over every image under images/; the split is
  // val_split (data/dataset_split.hpp) over the images' paths below images/.
  Expected<void> write_dataset_files(double val_fraction) const;

  const LabeledDatasetCounts& counts() const { return m_counts; }
  std::filesystem::path label_path(const std::filesystem::path& relative) const;
  std::filesystem::path record_path(const std::filesystem::path& relative) const;

 private:
  struct ExistingLabels {
    std::vector<YoloBox> boxes;
    std::vector<Detection> detections;  // the same boxes in pixels, with their scores
  };
  // The labels `labeled` already has (its label file, else its flat record), for merge.
  Expected<ExistingLabels> existing_labels(const LabeledImage& labeled, const std::optional<LabelRecord>& flat) const;

  std::filesystem::path m_dir;
  LabeledDatasetOptions m_options;
  LabeledDatasetCounts m_counts;
  std::set<std::filesystem::path> m_written_labels;
};

// Where the data set's parts are, for artifacts.json: labeled_dir, dataset_yaml, images_dir,
// labels_dir, records_dir.
nlohmann::json labeled_dataset_paths(const std::filesystem::path& labeled_dir);

}  // namespace vision
