// The Python original's labeled folder: one LabelRecord per image as <labeled_dir>/<stem>.json,
// whose image_path names the image (absolute, or relative to wherever the original ran). Reading
// such a record, finding its image, checking its boxes, and finding the record of a given image;
// shared by `vision labels import`, autolabel's on_conflict and the Faster R-CNN trainer's data.
#pragma once

#include <expected>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "vision/core/contracts.hpp"

namespace vision {

// What a relative image_path was found against, reported so a user can see which guess held.
enum class ImagePathBase { absolute, record_folder, cwd };
const char* image_path_base_name(ImagePathBase base);

struct FlatRecordImage {
  std::filesystem::path path;
  ImagePathBase base = ImagePathBase::absolute;
};

// The image a record at `record_file` names: an absolute image_path as it is; a relative one
// against the record's folder first, then against the current directory (the original wrote
// paths relative to the folder it ran in, usually the repository root). nullopt when neither
// names an existing file.
std::optional<FlatRecordImage> resolve_flat_record_image(const std::filesystem::path& record_file,
                                                         const std::string& image_path);

// Why a record could not be used: a `reason` (a key for counts) and a message naming the field.
struct FlatRecordProblem {
  std::string reason;
  std::string message;
};

// `reason` is "unreadable_json" (not a file, or not JSON) or "invalid_record" (JSON that breaks
// the LabelRecord contract; the message names the field).
std::expected<LabelRecord, FlatRecordProblem> read_flat_record(const std::filesystem::path& file);

// A box may overhang the image by this share of its side (rounding, a generous labeler) and is
// clipped; a box further out belongs to another image than the one the record names.
constexpr float k_record_box_edge_tolerance = 0.02F;

// The first box of `record` that cannot be used on a width × height image: "box_outside_image"
// (further out than the tolerance) or "degenerate_box" (no area left once clipped); nullopt
// when every box is usable.
std::optional<FlatRecordProblem> record_box_problem(const LabelRecord& record, int width, int height);

// A record that passed the rules of check_flat_record, with its image's decoded size.
struct CheckedFlatRecord {
  LabelRecord record;
  FlatRecordImage image;
  int width = 0;
  int height = 0;
};

// A caller's own rule on a record (the Faster R-CNN data's class_map check); its message is
// prefixed with the record file.
using FlatRecordRule = std::function<std::optional<FlatRecordProblem>(const LabelRecord&)>;

// Reads `file` and applies the rules a record must pass on its own, in this order:
// unreadable_json, invalid_record, image_missing, image_unreadable (read_image decodes it),
// box_outside_image, degenerate_box, `extra_rule` when given, and last duplicate_image (an image
// already in `images_seen`; a record that passes adds its image there, one that fails does not).
// The problem's message starts with the record file.
std::expected<CheckedFlatRecord, FlatRecordProblem> check_flat_record(const std::filesystem::path& file,
                                                                      std::set<std::filesystem::path>& images_seen,
                                                                      const FlatRecordRule& extra_rule = {});

// The *.json files directly in `dir` (not in sub-folders, where Vision's own records live), sorted.
std::vector<std::filesystem::path> list_flat_records(const std::filesystem::path& dir);

// The record <labeled_dir>/<stem of image>.json when it is a valid LabelRecord whose image_path
// names `image` itself (the same file); nullopt otherwise.
std::optional<LabelRecord> find_flat_record(const std::filesystem::path& labeled_dir, const std::filesystem::path& image);

}  // namespace vision
