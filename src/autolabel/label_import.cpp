// Importing the Python original's flat LabelRecords: check every record, settle the class names,
// then write each record through the labeled data set writer, as autolabel would have.
#include "vision/autolabel/label_import.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>

#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/progress.hpp"
#include "vision/data/label_records.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/image/image_files.hpp"

namespace fs = std::filesystem;

namespace vision {

namespace {

constexpr std::size_t k_max_skipped_listed = 50;

// A record that passed every check of its own; whether its classes agree with the others is
// settled over all of them.
struct Candidate {
  fs::path file;
  LabelRecord record;
  FlatRecordImage image;
};

void skip(LabelImportReport& report, const std::string& reason, const std::string& message) {
  ++report.skipped;
  ++report.skipped_by_reason[reason];
  if (report.skipped_records.size() < k_max_skipped_listed) report.skipped_records.push_back(message);
  log::warn("labels.import.skipped", message, {{"reason", reason}});
}

// Ctrl+C: the records not reached yet are left for the next import.
void stop_interrupted(LabelImportReport& report, std::int64_t left) {
  report.interrupted = true;
  report.skipped += left;
  report.skipped_by_reason["interrupted"] += left;
}

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return "[" + text + "]";
}

// With class_map.names every detection must carry one of its classes under its id.
Expected<std::vector<std::string>> names_from_class_map(const std::vector<std::string>& class_map,
                                                        const std::vector<std::string>& target_names,
                                                        const fs::path& yaml, const std::vector<Candidate>& candidates) {
  if (!target_names.empty() && target_names != class_map) {
    return fail(ErrorCode::invalid_data, yaml.string() + ": names " + joined(target_names) +
                                             " differ from class_map.names " + joined(class_map));
  }
  for (const auto& c : candidates) {
    for (size_t i = 0; i < c.record.detections.size(); ++i) {
      const Detection& d = c.record.detections[i];
      const auto id = static_cast<size_t>(d.class_id);
      if (id < class_map.size() && class_map[id] == d.class_name) continue;
      const std::string held = id < class_map.size() ? "\"" + class_map[id] + "\"" : "no class";
      return fail(ErrorCode::invalid_data, "class ids conflict: " + c.file.string() + ": detections[" + std::to_string(i) +
                                               "] is class_id " + std::to_string(id) + " \"" + d.class_name +
                                               "\", class_map.names has " + held + " at " + std::to_string(id));
    }
  }
  return class_map;
}

// Without class_map.names the records name the classes: the target's dataset.yaml fixes the ids
// it names, the records add the others, and an id or a name used two ways stops the import.
Expected<std::vector<std::string>> names_from_records(std::vector<std::string> names, const fs::path& yaml,
                                                      const std::vector<Candidate>& candidates) {
  std::vector<std::string> origins(names.size(), yaml.string());
  std::map<std::string, size_t> ids;
  for (size_t id = 0; id < names.size(); ++id) ids[names[id]] = id;
  for (const auto& c : candidates) {
    for (size_t i = 0; i < c.record.detections.size(); ++i) {
      const Detection& d = c.record.detections[i];
      const auto id = static_cast<size_t>(d.class_id);
      const std::string where = c.file.string() + ": detections[" + std::to_string(i) + "] is class_id " +
                                std::to_string(id) + " \"" + d.class_name + "\"";
      if (id >= static_cast<size_t>(k_max_class_count)) {
        return fail(ErrorCode::invalid_data, where + ": class ids must be below " + std::to_string(k_max_class_count));
      }
      if (id < names.size() && !names[id].empty()) {
        if (names[id] == d.class_name) continue;
        return fail(ErrorCode::invalid_data, "class ids conflict: " + where + ", " + origins[id] + " has \"" + names[id] +
                                                 "\" at " + std::to_string(id));
      }
      if (const auto other = ids.find(d.class_name); other != ids.end()) {
        return fail(ErrorCode::invalid_data, "class ids conflict: " + where + ", " + origins[other->second] +
                                                 " has it at " + std::to_string(other->second));
      }
      if (id >= names.size()) {
        names.resize(id + 1);
        origins.resize(id + 1);
      }
      names[id] = d.class_name;
      origins[id] = c.file.string();
      ids[d.class_name] = id;
    }
  }
  if (names.empty()) {
    return fail(ErrorCode::invalid_data, "no class names: no record has a detection and " + yaml.string() +
                                             " names none; set class_map.names");
  }
  for (size_t id = 0; id < names.size(); ++id) {
    if (names[id].empty()) {
      return fail(ErrorCode::invalid_data, "class id " + std::to_string(id) + " has no name: the records use ids up to " +
                                               std::to_string(names.size() - 1) +
                                               " and none of them is class " + std::to_string(id) + "; set class_map.names");
    }
  }
  return names;
}

Expected<std::vector<std::string>> settle_class_names(const LabelImportOptions& options,
                                                      const std::vector<Candidate>& candidates) {
  const fs::path yaml = options.to / "dataset.yaml";
  std::vector<std::string> target_names;
  std::error_code ec;
  if (fs::is_regular_file(yaml, ec)) {
    auto read = read_dataset_yaml_names(yaml);
    if (!read) return std::unexpected(read.error());
    target_names = std::move(*read);
  }
  if (!options.class_names.empty()) return names_from_class_map(options.class_names, target_names, yaml, candidates);
  return names_from_records(std::move(target_names), yaml, candidates);
}

// Where the image goes under images/ (and so its label and record names).
fs::path target_relative(const LabelImportOptions& options, const Candidate& c) {
  if (!options.unlabeled_dir.empty()) {
    const fs::path base = fs::absolute(options.unlabeled_dir).lexically_normal();
    const fs::path relative = c.image.path.lexically_relative(base);
    if (!relative.empty() && *relative.begin() != "..") return relative;
  }
  return c.file.stem().string() + c.image.path.extension().string();
}

bool same_bytes(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::equivalent(a, b, ec)) return true;
  const auto size_a = fs::file_size(a, ec);
  if (ec) return false;
  const auto size_b = fs::file_size(b, ec);
  if (ec || size_a != size_b) return false;
  std::ifstream in_a(a, std::ios::binary);
  std::ifstream in_b(b, std::ios::binary);
  return std::equal(std::istreambuf_iterator<char>(in_a), std::istreambuf_iterator<char>(),
                    std::istreambuf_iterator<char>(in_b), std::istreambuf_iterator<char>());
}

// The images the target holds, by their path under images/ without the extension: one label
// file serves every image of that name, so the name may hold one image only.
std::map<fs::path, fs::path> target_images_by_stem(const fs::path& images_dir) {
  std::map<fs::path, fs::path> images;
  for (const auto& image : list_images(images_dir)) {
    const fs::path relative = image.lexically_relative(images_dir);
    images[fs::path(relative).replace_extension()] = relative;
  }
  return images;
}

std::vector<Candidate> check_records(const std::vector<fs::path>& files, LabelImportReport& report) {
  std::vector<Candidate> candidates;
  std::set<fs::path> images_seen;
  Progress progress("labels import: check", static_cast<std::int64_t>(files.size()), "rec");
  std::int64_t done = 0;
  for (const auto& file : files) {
    progress.update(done++);
    if (interrupt::requested()) {
      stop_interrupted(report, static_cast<std::int64_t>(files.size()) - done + 1);
      break;
    }
    auto checked = check_flat_record(file, images_seen);
    if (!checked) {
      skip(report, checked.error().reason, checked.error().message);
      continue;
    }
    candidates.push_back({file, std::move(checked->record), checked->image});
  }
  progress.update(done);
  progress.finish();
  return candidates;
}

}  // namespace

Expected<LabelImportReport> import_flat_labels(const LabelImportOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(options.from, ec)) return fail(ErrorCode::not_found, "folder not found: " + options.from.string());
  const std::vector<fs::path> files = list_flat_records(options.from);
  if (files.empty()) {
    return fail(ErrorCode::not_found, options.from.string() + ": no LabelRecord (<stem>.json) directly in this folder");
  }
  LabelImportReport report;
  report.records = static_cast<std::int64_t>(files.size());
  log::info("labels.import.start", "importing " + std::to_string(files.size()) + " records from " + options.from.string(),
            {{"records", files.size()}, {"to", options.to.string()}});

  const std::vector<Candidate> candidates = check_records(files, report);
  if (candidates.empty() || report.interrupted) return report;  // the target stays as it was
  auto names = settle_class_names(options, candidates);
  if (!names) return std::unexpected(names.error());
  report.class_names = *names;

  LabeledDatasetWriter writer(options.to, {.class_names = *names,
                                           .on_conflict = options.on_conflict,
                                           .visualize = false,
                                           .image_transfer = options.image_transfer,
                                           .flat_records = false});
  const fs::path images_dir = options.to / "images";
  std::map<fs::path, fs::path> taken = target_images_by_stem(images_dir);
  Progress progress("labels import", static_cast<std::int64_t>(candidates.size()), "rec");
  std::int64_t done = 0;
  for (const auto& c : candidates) {
    progress.update(done++);
    if (interrupt::requested()) {
      stop_interrupted(report, static_cast<std::int64_t>(candidates.size()) - done + 1);
      break;
    }
    const fs::path relative = target_relative(options, c);
    const fs::path key = fs::path(relative).replace_extension();
    if (const auto held = taken.find(key);
        held != taken.end() && (held->second != relative || !same_bytes(images_dir / relative, c.image.path))) {
      skip(report, "duplicate_stem", c.file.string() + ": " + (images_dir / held->second).string() +
                                         " is another image of this name in the target (one label file cannot serve both)");
      continue;
    }
    if (writer.should_skip(relative, c.image.path)) {
      writer.count_skipped();
      ++report.skipped;
      ++report.skipped_by_reason["already_in_target"];
      continue;
    }
    auto image = read_image(c.image.path);
    if (!image) {
      skip(report, "image_unreadable", c.file.string() + ": " + image.error().message);
      continue;
    }
    const nlohmann::json imported = {{"record", fs::absolute(c.file).lexically_normal().string()},
                                     {"source", c.record.source},
                                     {"image_path", c.record.image_path},
                                     {"image_path_base", image_path_base_name(c.image.base)}};
    const LabeledImage labeled{c.image.path, relative, std::move(*image), c.record.detections,
                               "import:" + imported["record"].get<std::string>(), {{"imported", imported}}};
    if (auto ok = writer.write(labeled); !ok) {
      skip(report, "write_failed", c.file.string() + ": " + ok.error().message);
      continue;
    }
    taken[key] = relative;
    ++report.image_paths_resolved[image_path_base_name(c.image.base)];
    for (const auto& d : c.record.detections) ++report.detections_per_class[d.class_name];
  }
  progress.update(done);
  progress.finish();
  report.counts = writer.counts();
  if (report.imported() > 0) {
    if (auto ok = writer.write_dataset_files(options.val_fraction); !ok) return std::unexpected(ok.error());
  }
  return report;
}

nlohmann::json to_json(const LabelImportReport& report, const fs::path& labeled_dir) {
  nlohmann::json json = {{"records", report.records},
                         {"imported", report.imported()},
                         {"created", report.counts.created},
                         {"overwritten", report.counts.overwritten},
                         {"merged", report.counts.merged},
                         {"detections", report.counts.detections},
                         {"detections_per_class", report.detections_per_class},
                         {"skipped", report.skipped},
                         {"skipped_by_reason", report.skipped_by_reason},
                         {"skipped_records", report.skipped_records},
                         {"image_paths_resolved", report.image_paths_resolved},
                         {"class_names", report.class_names},
                         {"interrupted", report.interrupted}};
  json.update(labeled_dataset_paths(labeled_dir));
  return json;
}

}  // namespace vision
