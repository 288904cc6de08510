// `vision labels import`: the Python original's flat labeled folder (<dir>/<stem>.json
// LabelRecords naming their images) becomes Vision's trainable layout (labeled_dataset.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vision/autolabel/labeled_dataset.hpp"
#include "vision/core/error.hpp"

namespace vision {

struct LabelImportOptions {
  std::filesystem::path from;  // the flat folder
  std::filesystem::path to;    // the labeled data set written (data.labeled_dir); may be `from`
  // An image under this folder keeps its path below it, the name autolabel gives it, so a later
  // autolabel run finds its labels; any other image becomes images/<record stem><extension>.
  std::filesystem::path unlabeled_dir;
  std::vector<std::string> class_names;  // class_map.names; empty: the records' own ids and names
  ImageTransfer image_transfer = ImageTransfer::copy;
  OnConflict on_conflict = OnConflict::skip;  // for an image the target already labels
  double val_fraction = 0.2;                  // autolabel.val_fraction
};

struct LabelImportReport {
  std::int64_t records = 0;    // *.json files found
  LabeledDatasetCounts counts;  // created / overwritten / merged, and the boxes written
  std::int64_t skipped = 0;    // records not imported, each for one reason below
  // already_in_target (on_conflict skip), unreadable_json, invalid_record, image_missing,
  // image_unreadable, box_outside_image, degenerate_box, duplicate_image, duplicate_stem,
  // write_failed, interrupted
  std::map<std::string, std::int64_t> skipped_by_reason;
  std::vector<std::string> skipped_records;  // "<file>: <why>", the first 50
  // How each imported record's relative image_path was found: absolute, record_folder, cwd.
  std::map<std::string, std::int64_t> image_paths_resolved;
  std::map<std::string, std::int64_t> detections_per_class;  // boxes of the imported records
  std::vector<std::string> class_names;                      // dataset.yaml's names
  bool interrupted = false;

  std::int64_t imported() const { return counts.created + counts.overwritten + counts.merged; }
};

// Checks every record before the target changes: classes whose ids and names disagree (between
// records, with class_map.names or with the target's dataset.yaml) fail the whole import, and
// so does a folder without one importable record. A bad record is skipped and counted; nothing
// already in the target is removed or replaced by it.
Expected<LabelImportReport> import_flat_labels(const LabelImportOptions& options);

// artifacts.json form: counts, reasons and paths.
nlohmann::json to_json(const LabelImportReport& report, const std::filesystem::path& labeled_dir);

}  // namespace vision
