#include "vision/autolabel/labeled_dataset.hpp"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "vision/core/run.hpp"
#include "vision/core/timestamp.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/data/yolo_labels.hpp"
#include "vision/image/draw.hpp"
#include "vision/image/image_files.hpp"
#include "vision/image/nms.hpp"

namespace fs = std::filesystem;

namespace vision {

namespace {

constexpr float k_merge_iou = 0.5F;  // a new box joins only below this IoU with every old one

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

Detection from_yolo(const YoloBox& b, int width, int height, const std::vector<std::string>& names) {
  return {b.class_id, names[static_cast<size_t>(b.class_id)], 1.0F, yolo_box_to_xyxy(b, width, height)};
}

Expected<void> link_or_copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  if (fs::exists(to, ec)) {
    if (fs::equivalent(from, to, ec)) return {};
    fs::remove(to, ec);
  }
  fs::create_hard_link(from, to, ec);
  if (!ec) return {};
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return fail(ErrorCode::io, "cannot copy " + from.string() + " to " + to.string() + ": " + ec.message());
  return {};
}

}  // namespace

Expected<OnConflict> parse_on_conflict(const std::string& text) {
  if (text == "skip") return OnConflict::skip;
  if (text == "overwrite") return OnConflict::overwrite;
  if (text == "merge") return OnConflict::merge;
  return fail(ErrorCode::config, "autolabel.on_conflict = \"" + text + "\": must be one of skip|overwrite|merge");
}

bool in_val_split(const std::string& relative_path, double val_fraction) {
  return static_cast<double>(fnv1a(relative_path) % 10000) < val_fraction * 10000.0;
}

LabeledDatasetWriter::LabeledDatasetWriter(fs::path labeled_dir, std::vector<std::string> class_names,
                                           OnConflict on_conflict, bool visualize)
    : m_dir(std::move(labeled_dir)),
      m_class_names(std::move(class_names)),
      m_on_conflict(on_conflict),
      m_visualize(visualize) {}

fs::path LabeledDatasetWriter::label_path(const fs::path& relative) const {
  return (m_dir / "labels" / relative).replace_extension(".txt");
}

fs::path LabeledDatasetWriter::record_path(const fs::path& relative) const {
  return (m_dir / "records" / relative).replace_extension(".json");
}

bool LabeledDatasetWriter::should_skip(const fs::path& relative) const {
  std::error_code ec;
  return m_on_conflict == OnConflict::skip && fs::exists(label_path(relative), ec);
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
  const bool existed = fs::exists(label_file, ec);

  std::vector<YoloBox> boxes;
  std::vector<Detection> record_detections;
  std::int64_t written = 0;
  if (existed && m_on_conflict == OnConflict::merge) {
    auto existing = read_yolo_labels(label_file, static_cast<int>(m_class_names.size()), LabelStrictness::lenient);
    if (!existing) return std::unexpected(existing.error());
    boxes = existing->boxes;
    // Keep the old record's scores and provenance when there is one.
    std::ifstream record_in(record_path(labeled.relative));
    nlohmann::json old_record = nlohmann::json::parse(record_in, nullptr, false);
    auto parsed = label_record_from_json(old_record);
    if (parsed && parsed->detections.size() == boxes.size()) {
      record_detections = parsed->detections;
    } else {
      for (const auto& b : boxes) record_detections.push_back(from_yolo(b, width, height, m_class_names));
    }
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

  if (auto ok = link_or_copy(labeled.source, m_dir / "images" / labeled.relative); !ok) return ok;
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
  if (m_visualize) {
    cv::Mat preview = labeled.image.clone();
    draw_detections(preview, record_detections);
    fs::path preview_file = m_dir / "previews" / labeled.relative;
    if (!is_image_file(preview_file)) preview_file += ".jpg";
    fs::create_directories(preview_file.parent_path(), ec);
    if (!cv::imwrite(preview_file.string(), preview)) return fail(ErrorCode::io, "cannot write " + preview_file.string());
  }
  if (!existed) ++m_counts.created;
  else if (m_on_conflict == OnConflict::merge) ++m_counts.merged;
  else ++m_counts.overwritten;
  m_counts.detections += written;
  return {};
}

Expected<void> LabeledDatasetWriter::write_dataset_files(double val_fraction) const {
  std::vector<std::string> all;
  for (const auto& image : list_images(m_dir / "images")) all.push_back(image.lexically_relative(m_dir / "images").string());
  std::vector<std::string> train, val;
  for (const auto& rel : all) (in_val_split(rel, val_fraction) ? val : train).push_back(rel);
  // Training needs both splits: when the hash left one empty, move the last image over.
  if (all.size() >= 2 && val_fraction > 0 && val.empty()) {
    val.push_back(train.back());
    train.pop_back();
  } else if (all.size() >= 2 && train.empty()) {
    train.push_back(val.back());
    val.pop_back();
  }
  const auto write_list = [&](const std::string& name, const std::vector<std::string>& items) {
    std::string text;
    for (const auto& rel : items) text += "./images/" + rel + "\n";
    return write_file_atomic(m_dir / name, text);
  };
  if (auto ok = write_list("train.txt", train); !ok) return ok;
  if (auto ok = write_list("val.txt", val); !ok) return ok;
  return write_dataset_yaml(m_dir, {.train = "train.txt", .val = "val.txt", .names = m_class_names,
                                    .comment = "Written by vision autolabel."});
}

}  // namespace vision
