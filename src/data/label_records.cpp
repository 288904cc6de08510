// The Python original's flat LabelRecords: reading them, finding their images, checking their boxes.
#include "vision/data/label_records.hpp"

#include <algorithm>
#include <format>
#include <fstream>

#include <nlohmann/json.hpp>

#include "vision/data/yolo_labels.hpp"
#include "vision/image/image_files.hpp"

namespace fs = std::filesystem;

namespace vision {

const char* image_path_base_name(ImagePathBase base) {
  switch (base) {
    case ImagePathBase::absolute: return "absolute";
    case ImagePathBase::record_folder: return "record_folder";
    case ImagePathBase::cwd: return "cwd";
  }
  return "absolute";
}

std::optional<FlatRecordImage> resolve_flat_record_image(const fs::path& record_file, const std::string& image_path) {
  const fs::path path = image_path;
  std::error_code ec;
  if (path.is_absolute()) {
    if (fs::is_regular_file(path, ec)) return FlatRecordImage{path.lexically_normal(), ImagePathBase::absolute};
    return std::nullopt;
  }
  const fs::path beside = (fs::absolute(record_file, ec).parent_path() / path).lexically_normal();
  if (fs::is_regular_file(beside, ec)) return FlatRecordImage{beside, ImagePathBase::record_folder};
  const fs::path from_cwd = fs::absolute(path, ec).lexically_normal();
  if (fs::is_regular_file(from_cwd, ec)) return FlatRecordImage{from_cwd, ImagePathBase::cwd};
  return std::nullopt;
}

std::expected<LabelRecord, FlatRecordProblem> read_flat_record(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::unexpected(FlatRecordProblem{"unreadable_json", file.string() + ": cannot read the file"});
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_discarded()) return std::unexpected(FlatRecordProblem{"unreadable_json", file.string() + ": not valid JSON"});
  auto record = label_record_from_json(json);
  if (!record) return std::unexpected(FlatRecordProblem{"invalid_record", file.string() + ": " + record.error().message});
  return std::move(*record);
}

std::optional<FlatRecordProblem> record_box_problem(const LabelRecord& record, int width, int height) {
  const float slack_x = k_record_box_edge_tolerance * static_cast<float>(width);
  const float slack_y = k_record_box_edge_tolerance * static_cast<float>(height);
  for (size_t i = 0; i < record.detections.size(); ++i) {
    const Detection& d = record.detections[i];
    const auto& b = d.bbox_xyxy;
    const std::string field =
        std::format("detections[{}].bbox_xyxy [{:g}, {:g}, {:g}, {:g}]", i, b[0], b[1], b[2], b[3]);
    if (b[0] < -slack_x || b[1] < -slack_y || b[2] > static_cast<float>(width) + slack_x ||
        b[3] > static_cast<float>(height) + slack_y) {
      return FlatRecordProblem{"box_outside_image", field + " reaches outside the " + std::to_string(width) + "x" +
                                                        std::to_string(height) + " image"};
    }
    if (!yolo_box_from_xyxy(d.class_id, b, width, height)) {
      return FlatRecordProblem{"degenerate_box", field + " has no area inside the image"};
    }
  }
  return std::nullopt;
}

std::expected<CheckedFlatRecord, FlatRecordProblem> check_flat_record(const fs::path& file, std::set<fs::path>& images_seen,
                                                                      const FlatRecordRule& extra_rule) {
  auto record = read_flat_record(file);
  if (!record) return std::unexpected(record.error());
  const auto image = resolve_flat_record_image(file, record->image_path);
  if (!image) {
    return std::unexpected(FlatRecordProblem{
        "image_missing", file.string() + ": image_path \"" + record->image_path +
                             "\" names no file (relative paths are tried against the record's folder, then the "
                             "current directory)"});
  }
  auto decoded = read_image(image->path);
  if (!decoded) return std::unexpected(FlatRecordProblem{"image_unreadable", file.string() + ": " + decoded.error().message});
  auto problem = record_box_problem(*record, decoded->cols, decoded->rows);
  if (!problem && extra_rule) problem = extra_rule(*record);
  if (problem) return std::unexpected(FlatRecordProblem{problem->reason, file.string() + ": " + problem->message});
  if (!images_seen.insert(image->path).second) {
    return std::unexpected(FlatRecordProblem{
        "duplicate_image", file.string() + ": " + image->path.string() + " is the image of an earlier record"});
  }
  return CheckedFlatRecord{std::move(*record), *image, decoded->cols, decoded->rows};
}

std::vector<fs::path> list_flat_records(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".json" && it->is_regular_file(ec)) files.push_back(it->path());
  }
  std::ranges::sort(files);
  return files;
}

std::optional<LabelRecord> find_flat_record(const fs::path& labeled_dir, const fs::path& image) {
  const fs::path file = labeled_dir / (image.stem().string() + ".json");
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  auto record = read_flat_record(file);
  if (!record) return std::nullopt;
  const auto named = resolve_flat_record_image(file, record->image_path);
  if (!named || !fs::equivalent(named->path, image, ec)) return std::nullopt;
  return std::move(*record);
}

}  // namespace vision
