// The labeled data set writer: images, labels, records and previews of each image, then the
// dataset files over the whole folder.
#include "vision/autolabel/labeled_dataset.hpp"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "vision/core/run.hpp"
#include "vision/core/timestamp.hpp"
#include "vision/data/dataset_split.hpp"
#include "vision/data/label_records.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/data/yolo_labels.hpp"
#include "vision/image/draw.hpp"
#include "vision/image/image_files.hpp"
#include "vision/image/nms.hpp"

namespace fs = std::filesystem;

namespace vision {

namespace {

constexpr float k_merge_iou = 0.5F;  // a new box joins only below this IoU with every old one

Detection from_yolo(const YoloBox& b, int width, int height, const std::vector<std::string>& names) {
  return {b.class_id, names[static_cast<size_t>(b.class_id)], 1.0F, yolo_box_to_xyxy(b, width, height)};
}

// Through a temporary name and a rename, so an image already in place stays there until its
// replacement is complete.
Expected<void> transfer_image(const fs::path& from, const fs::path& to, ImageTransfer transfer) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (fs::equivalent(from, to, ec)) return {};
  const fs::path temporary = to.string() + ".part";
  fs::remove(temporary, ec);
  ec.clear();
  if (transfer == ImageTransfer::symlink) {
    fs::create_symlink(fs::absolute(from), temporary, ec);
  } else {
    if (transfer == ImageTransfer::hard_link) fs::create_hard_link(from, temporary, ec);
    if (transfer == ImageTransfer::copy || ec) fs::copy_file(from, temporary, fs::copy_options::overwrite_existing, ec);
  }
  if (!ec) fs::rename(temporary, to, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    return fail(ErrorCode::io, "cannot put " + from.string() + " at " + to.string() + ": " + ec.message());
  }
  return {};
}

}  // namespace

Expected<ImageTransfer> parse_image_transfer(const std::string& text, const std::string& what) {
  if (text == "hard") return ImageTransfer::hard_link;
  if (text == "copy") return ImageTransfer::copy;
  if (text == "symlink") return ImageTransfer::symlink;
  return fail(ErrorCode::usage, what + " = \"" + text + "\": must be one of copy|hard|symlink");
}

Expected<OnConflict> parse_on_conflict(const std::string& text) {
  if (text == "skip") return OnConflict::skip;
  if (text == "overwrite") return OnConflict::overwrite;
  if (text == "merge") return OnConflict::merge;
  return fail(ErrorCode::config, "autolabel.on_conflict = \"" + text + "\": must be one of skip|overwrite|merge");
}

nlohmann::json labeled_dataset_paths(const fs::path& labeled_dir) {
  return {{"labeled_dir", labeled_dir.string()},
          {"dataset_yaml", (labeled_dir / "dataset.yaml").string()},
          {"images_dir", (labeled_dir / "images").string()},
          {"labels_dir", (labeled_dir / "labels").string()},
          {"records_dir", (labeled_dir / "records").string()}};
}

LabeledDatasetWriter::LabeledDatasetWriter(fs::path labeled_dir, LabeledDatasetOptions options)
    : m_dir(std::move(labeled_dir)), m_options(std::move(options)) {}

fs::path LabeledDatasetWriter::label_path(const fs::path& relative) const {
  return (m_dir / "labels" / relative).replace_extension(".txt");
}

fs::path LabeledDatasetWriter::record_path(const fs::path& relative) const {
  return (m_dir / "records" / relative).replace_extension(".json");
}

bool LabeledDatasetWriter::should_skip(const fs::path& relative, const fs::path& source) const {
  if (m_options.on_conflict != OnConflict::skip) return false;
  std::error_code ec;
  if (fs::exists(label_path(relative), ec)) return true;
  return m_options.flat_records && find_flat_record(m_dir, source).has_value();
}

Expected<LabeledDatasetWriter::ExistingLabels> LabeledDatasetWriter::existing_labels(
    const LabeledImage& labeled, const std::optional<LabelRecord>& flat) const {
  const int width = labeled.image.cols;
  const int height = labeled.image.rows;
  const auto& names = m_options.class_names;
  ExistingLabels existing;
  if (flat) {
    for (size_t i = 0; i < flat->detections.size(); ++i) {
      const Detection& d = flat->detections[i];
      const auto id = static_cast<size_t>(d.class_id);
      if (id >= names.size() || names[id] != d.class_name) {
        return fail(ErrorCode::invalid_data,
                    (m_dir / (labeled.source.stem().string() + ".json")).string() + ": detections[" + std::to_string(i) +
                        "]: class " + std::to_string(id) + " \"" + d.class_name + "\" is not that class of class_map.names");
      }
      if (auto box = yolo_box_from_xyxy(d.class_id, d.bbox_xyxy, width, height)) {
        existing.boxes.push_back(*box);
        existing.detections.push_back(d);
      }
    }
    return existing;
  }
  auto labels = read_yolo_labels(label_path(labeled.relative), static_cast<int>(names.size()), LabelStrictness::lenient);
  if (!labels) return std::unexpected(labels.error());
  existing.boxes = labels->boxes;
  // Keep the old record's scores and provenance when there is one.
  std::ifstream record_in(record_path(labeled.relative));
  nlohmann::json old_record = nlohmann::json::parse(record_in, nullptr, false);
  auto parsed = label_record_from_json(old_record);
  if (parsed && parsed->detections.size() == existing.boxes.size()) {
    existing.detections = parsed->detections;
  } else {
    for (const auto& b : existing.boxes) existing.detections.push_back(from_yolo(b, width, height, names));
  }
  return existing;
}

Expected<void> LabeledDatasetWriter::write(const LabeledImage& labeled) {
  const fs::path label_file = label_path(labeled.relative);
  if (!m_written_labels.insert(label_file).second) {
    return fail(ErrorCode::invalid_data, labeled.source.string() + ": another image of this run already wrote " +
                                             label_file.string() + " (same name, other extension)");
  }
  const int width = labeled.image.cols;
  const int height = labeled.image.rows;
  std::error_code ec;
  const bool has_label_file = fs::exists(label_file, ec);
  std::optional<LabelRecord> flat;
  if (!has_label_file && m_options.flat_records) flat = find_flat_record(m_dir, labeled.source);
  const bool existed = has_label_file || flat.has_value();

  std::vector<YoloBox> boxes;
  std::vector<Detection> record_detections;
  std::int64_t written = 0;
  if (existed && m_options.on_conflict == OnConflict::merge) {
    auto existing = existing_labels(labeled, flat);
    if (!existing) return std::unexpected(existing.error());
    boxes = std::move(existing->boxes);
    record_detections = std::move(existing->detections);
    const std::vector<YoloBox> old_boxes = boxes;
    for (const auto& d : labeled.detections) {
      auto box = yolo_box_from_xyxy(d.class_id, d.bbox_xyxy, width, height);
      if (!box) continue;
      const bool overlaps = std::ranges::any_of(old_boxes, [&](const YoloBox& old) {
        return old.class_id == box->class_id &&
               box_iou(yolo_box_to_xyxy(old, 1, 1), yolo_box_to_xyxy(*box, 1, 1)) >= k_merge_iou;
      });
      if (overlaps) continue;
      boxes.push_back(*box);
      record_detections.push_back(d);
      ++written;
    }
  } else {
    for (const auto& d : labeled.detections) {
      if (auto box = yolo_box_from_xyxy(d.class_id, d.bbox_xyxy, width, height)) {
        boxes.push_back(*box);
        record_detections.push_back(d);
      }
    }
    written = static_cast<std::int64_t>(boxes.size());
  }

  if (auto ok = transfer_image(labeled.source, m_dir / "images" / labeled.relative, m_options.image_transfer); !ok) return ok;
  if (auto ok = write_yolo_labels(label_file, boxes); !ok) return ok;
  LabelRecord record{("images" / labeled.relative).string(), labeled.provenance, record_detections};
  nlohmann::json record_json = to_json(record);
  record_json["width"] = width;
  record_json["height"] = height;
  record_json["source_image"] = labeled.source.string();
  record_json["labeled_utc"] = utc_timestamp_now();
  if (labeled.record_fields.is_object()) {
    for (const auto& [key, value] : labeled.record_fields.items()) {
      if (!record_json.contains(key)) record_json[key] = value;
    }
  }
  const fs::path record_file = record_path(labeled.relative);
  fs::create_directories(record_file.parent_path(), ec);
  if (auto ok = write_file_atomic(record_file, record_json.dump(2) + "\n"); !ok) return ok;
  if (m_options.visualize) {
    cv::Mat preview = labeled.image.clone();
    draw_detections(preview, record_detections);
    fs::path preview_file = m_dir / "previews" / labeled.relative;
    if (!is_image_file(preview_file)) preview_file += ".jpg";
    fs::create_directories(preview_file.parent_path(), ec);
    if (!cv::imwrite(preview_file.string(), preview)) return fail(ErrorCode::io, "cannot write " + preview_file.string());
  }
  if (!existed) ++m_counts.created;
  else if (m_options.on_conflict == OnConflict::merge) ++m_counts.merged;
  else ++m_counts.overwritten;
  m_counts.detections += written;
  return {};
}

Expected<void> LabeledDatasetWriter::write_dataset_files(double val_fraction) const {
  std::vector<std::string> all;
  for (const auto& image : list_images(m_dir / "images")) all.push_back(image.lexically_relative(m_dir / "images").string());
  const std::vector<bool> is_val = val_split(all, val_fraction);
  std::vector<std::string> train, val;
  for (size_t i = 0; i < all.size(); ++i) (is_val[i] ? val : train).push_back(all[i]);
  const auto write_list = [&](const std::string& name, const std::vector<std::string>& items) {
    std::string text;
    for (const auto& rel : items) text += "./images/" + rel + "\n";
    return write_file_atomic(m_dir / name, text);
  };
  if (auto ok = write_list("train.txt", train); !ok) return ok;
  if (auto ok = write_list("val.txt", val); !ok) return ok;
  return write_dataset_yaml(m_dir, {.train = "train.txt", .val = "val.txt", .names = m_options.class_names,
                                    .comment = "Written by vision autolabel or vision labels import."});
}

}  // namespace vision
