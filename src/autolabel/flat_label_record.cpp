// The Python original's flat LabelRecords: reading them and finding their images.
#include "vision/autolabel/flat_label_record.hpp"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

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
