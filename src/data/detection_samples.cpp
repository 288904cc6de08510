// Detection samples from a YOLO data set or a flat LabelRecord folder, with the skip rules.
#include "vision/data/detection_samples.hpp"

#include <algorithm>
#include <numeric>
#include <optional>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "vision/core/contracts.hpp"
#include "vision/data/dataset_split.hpp"
#include "vision/data/label_records.hpp"
#include "vision/data/yolo_dataset.hpp"
#include "vision/image/image_files.hpp"

namespace fs = std::filesystem;

namespace vision {

namespace {

constexpr std::size_t k_max_skipped_listed = 50;

void skip(DetectionSamples& samples, const std::string& reason, const std::string& message) {
  ++samples.skipped_by_reason[reason];
  if (samples.skipped_records.size() < k_max_skipped_listed) samples.skipped_records.push_back(message);
}

// The sample of a YOLO item; nullopt (counted) when its image does not decode.
std::optional<DetectionSample> yolo_sample(const DatasetItem& item, DetectionSamples& samples) {
  auto image = read_image(item.image);
  if (!image) {
    skip(samples, "image_unreadable", item.image.string() + ": " + image.error().message);
    return std::nullopt;
  }
  DetectionSample sample{item.image, image->cols, image->rows, {}, {}};
  for (const auto& box : item.boxes) {
    sample.boxes.push_back(yolo_box_to_xyxy(box, sample.width, sample.height));
    sample.class_ids.push_back(box.class_id);
  }
  return sample;
}

Expected<void> load_yolo(const DetectionSamplesOptions& options, DetectionSamples& samples) {
  auto dataset = load_yolo_dataset({options.dir, options.class_names, options.strictness});
  if (!dataset) return std::unexpected(dataset.error());
  samples.names = dataset->names;
  for (const auto& problem : dataset->problems) skip(samples, "label_line_invalid", problem);
  for (const auto& item : dataset->train) {
    auto sample = yolo_sample(item, samples);
    if (!sample) continue;
    if (sample->boxes.empty()) {
      skip(samples, "no_detections", item.image.string() + ": no box (a train image needs one)");
      continue;
    }
    samples.train.push_back(std::move(*sample));
  }
  for (const auto& item : dataset->val) {
    if (auto sample = yolo_sample(item, samples)) samples.val.push_back(std::move(*sample));
  }
  return {};
}

// The first detection whose class is not class_map's: unknown_class or class_id_mismatch.
std::optional<FlatRecordProblem> class_problem(const LabelRecord& record, const std::vector<std::string>& names) {
  for (size_t i = 0; i < record.detections.size(); ++i) {
    const Detection& d = record.detections[i];
    const std::string field = "detections[" + std::to_string(i) + "] class \"" + d.class_name + "\"";
    const auto named = std::ranges::find(names, d.class_name);
    if (named == names.end()) return FlatRecordProblem{"unknown_class", field + " is not in class_map.names"};
    const auto id = named - names.begin();
    if (d.class_id != id) {
      return FlatRecordProblem{"class_id_mismatch", field + " has class_id " + std::to_string(d.class_id) +
                                                        ", class_map.names has it at " + std::to_string(id)};
    }
  }
  return std::nullopt;
}

struct FlatSample {
  std::string split_key;
  DetectionSample sample;
};

// The record's sample, or the reason (counted) it is left out.
std::optional<FlatSample> flat_sample(const fs::path& file, const std::vector<std::string>& names,
                                      std::set<fs::path>& images_seen, DetectionSamples& samples) {
  auto checked = check_flat_record(file, images_seen, [&](const LabelRecord& record) { return class_problem(record, names); });
  if (!checked) {
    skip(samples, checked.error().reason, checked.error().message);
    return std::nullopt;
  }
  DetectionSample sample{checked->image.path, checked->width, checked->height, {}, {}};
  for (const auto& d : checked->record.detections) {
    // record_box_problem passed, so the clipped box exists.
    const auto box = yolo_box_from_xyxy(d.class_id, d.bbox_xyxy, sample.width, sample.height);
    sample.boxes.push_back(yolo_box_to_xyxy(*box, sample.width, sample.height));
    sample.class_ids.push_back(d.class_id);
  }
  return FlatSample{file.stem().string() + checked->image.path.extension().string(), std::move(sample)};
}

Expected<void> load_flat(const DetectionSamplesOptions& options, DetectionSamples& samples) {
  const std::vector<fs::path> files = list_flat_records(options.dir);
  if (files.empty()) {
    return fail(ErrorCode::not_found, options.dir.string() + ": neither a YOLO data set (dataset.yaml, images/train) " +
                                          "nor a folder of LabelRecords (<stem>.json)");
  }
  if (options.class_names.empty()) {
    return fail(ErrorCode::config, options.dir.string() + ": a folder of LabelRecords needs class_map.names");
  }
  samples.names = options.class_names;
  std::vector<FlatSample> usable;
  std::set<fs::path> images_seen;
  for (const auto& file : files) {
    if (auto sample = flat_sample(file, samples.names, images_seen, samples)) usable.push_back(std::move(*sample));
  }
  std::vector<std::string> keys;
  for (const auto& u : usable) keys.push_back(u.split_key);
  const std::vector<bool> is_val = val_split(keys, options.val_fraction);
  for (size_t i = 0; i < usable.size(); ++i) {
    if (is_val[i]) {
      samples.val.push_back(std::move(usable[i].sample));
    } else if (usable[i].sample.boxes.empty()) {
      skip(samples, "no_detections", usable[i].sample.image.string() + ": no box (a train image needs one)");
    } else {
      samples.train.push_back(std::move(usable[i].sample));
    }
  }
  return {};
}

// The first max_samples of a seeded Fisher–Yates shuffle, back in their order. The draw is
// mt19937_64's raw output modulo, not std::uniform_int_distribution, whose results differ
// between standard libraries: the same seed keeps the same samples everywhere.
void keep_max_samples(std::vector<DetectionSample>& train, std::int64_t max_samples, std::uint64_t seed) {
  if (max_samples <= 0 || static_cast<std::size_t>(max_samples) >= train.size()) return;
  std::vector<std::size_t> order(train.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  for (std::size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng() % (i + 1)]);
  order.resize(static_cast<std::size_t>(max_samples));
  std::ranges::sort(order);
  std::vector<DetectionSample> kept;
  kept.reserve(order.size());
  for (const auto i : order) kept.push_back(std::move(train[i]));
  train = std::move(kept);
}

}  // namespace

bool holds_yolo_dataset(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_regular_file(dir, ec)) return true;
  for (const char* entry : {"dataset.yaml", "data.yaml", "images/train", "images/train2017"}) {
    if (fs::exists(dir / entry, ec)) return true;
  }
  return false;
}

const char* detection_source_name(DetectionSource source) {
  return source == DetectionSource::flat_records ? "flat_records" : "yolo_dataset";
}

Expected<DetectionSamples> load_detection_samples(const DetectionSamplesOptions& options) {
  DetectionSamples samples;
  samples.dir = options.dir;
  std::error_code ec;
  if (!fs::exists(options.dir, ec)) return fail(ErrorCode::not_found, "data set folder not found: " + options.dir.string());
  samples.source = holds_yolo_dataset(options.dir) ? DetectionSource::yolo_dataset : DetectionSource::flat_records;
  auto loaded = samples.source == DetectionSource::yolo_dataset ? load_yolo(options, samples) : load_flat(options, samples);
  if (!loaded) return std::unexpected(loaded.error());
  samples.train_usable = static_cast<std::int64_t>(samples.train.size());
  keep_max_samples(samples.train, options.max_samples, options.seed);
  for (const auto& [split, items] : {std::pair{"train", &samples.train}, std::pair{"val", &samples.val}}) {
    if (!items->empty()) continue;
    std::string reasons;
    for (const auto& [reason, count] : samples.skipped_by_reason) {
      reasons += (reasons.empty() ? "" : ", ") + reason + " " + std::to_string(count);
    }
    return fail(ErrorCode::invalid_data, options.dir.string() + ": no usable " + split + " sample" +
                                             (reasons.empty() ? std::string() : " (left out: " + reasons + ")"));
  }
  return samples;
}

nlohmann::json to_json(const DetectionSamples& samples) {
  std::int64_t skipped = 0;
  for (const auto& [reason, count] : samples.skipped_by_reason) {
    if (reason != "label_line_invalid") skipped += count;
  }
  return {{"source", detection_source_name(samples.source)},
          {"dir", samples.dir.string()},
          {"names", samples.names},
          {"train", samples.train.size()},
          {"val", samples.val.size()},
          {"train_usable", samples.train_usable},
          {"skipped", skipped},
          {"skipped_by_reason", samples.skipped_by_reason},
          {"skipped_records", samples.skipped_records}};
}

}  // namespace vision
