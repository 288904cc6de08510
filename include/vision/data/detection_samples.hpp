// The samples a two-stage detector (the Faster R-CNN backend) trains and validates on: each image
// with its boxes in pixel corners and 0-based class ids, read from a YOLO data set (as the yolo
// backend reads it) or from the Python original's flat LabelRecord folder, with every image left
// out counted by reason so the trainer can write the counts to its artifacts.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vision/core/error.hpp"
#include "vision/data/yolo_labels.hpp"

namespace vision {

struct DetectionSample {
  std::filesystem::path image;
  int width = 0;  // of the decoded image (read_image), which the boxes are in
  int height = 0;
  std::vector<std::array<float, 4>> boxes;  // pixel [x1, y1, x2, y2], clipped to the image
  std::vector<int> class_ids;               // one per box, indexes into DetectionSamples::names
};

// yolo_dataset: a dataset.yaml (Vision's labeled layout is one, with records/ beside it) or
// images/{train,val}; flat_records: <dir>/<stem>.json LabelRecords naming their images.
enum class DetectionSource { yolo_dataset, flat_records };
const char* detection_source_name(DetectionSource source);

struct DetectionSamplesOptions {
  std::filesystem::path dir;              // data.yolo_dataset_dir or data.labeled_dir (or a dataset.yaml)
  std::vector<std::string> class_names;   // class_map.names; required for flat records
  LabelStrictness strictness = LabelStrictness::lenient;  // for YOLO label lines
  double val_fraction = 0.2;              // autolabel.val_fraction: the flat folder's split
  std::int64_t max_samples = 0;           // train.faster_rcnn.max_samples: 0 = every train sample
  std::uint64_t seed = 42;                // train.seed: which train samples max_samples keeps
};

struct DetectionSamples {
  DetectionSource source = DetectionSource::yolo_dataset;
  std::filesystem::path dir;
  std::vector<std::string> names;
  std::vector<DetectionSample> train;
  std::vector<DetectionSample> val;
  std::int64_t train_usable = 0;  // train samples before max_samples
  // Images (records for a flat folder) left out, by reason: unreadable_json, invalid_record,
  // image_missing, image_unreadable, box_outside_image, degenerate_box, unknown_class,
  // class_id_mismatch, duplicate_image, no_detections; and label_line_invalid, which counts
  // YOLO label lines skipped (the image stays, without that box).
  std::map<std::string, std::int64_t> skipped_by_reason;
  std::vector<std::string> skipped_records;  // "<file>: <why>", the first 50
};

// The source is a YOLO data set when `dir` is a yaml file or holds dataset.yaml, data.yaml or
// images/train, else the flat records directly in `dir`. The flat folder splits by val_split
// (dataset_split.hpp) over "<record stem><image extension>", the path below images/ that
// `vision labels import` gives an image outside data.unlabeled_dir, so such a folder keeps its
// split once imported. Train images without a box are
// left out (no_detections), as the original did for Faster R-CNN; val keeps them, so both
// backends validate on the same images. max_samples keeps that many train samples, chosen by a
// shuffle seeded with `seed` (not the first by name, which would be one camera or one day of a
// folder), in their original order; val is never cut, so epochs and runs stay comparable. Fails
// when either split ends up empty.
Expected<DetectionSamples> load_detection_samples(const DetectionSamplesOptions& options);

// True when `dir` is a yaml file or holds dataset.yaml, data.yaml or images/train: the test
// load_detection_samples uses to choose its source.
bool holds_yolo_dataset(const std::filesystem::path& dir);

// artifacts.json form: {source, dir, names, train, val, train_usable, skipped (images left out,
// so without label_line_invalid), skipped_by_reason, skipped_records}.
nlohmann::json to_json(const DetectionSamples& samples);

}  // namespace vision
