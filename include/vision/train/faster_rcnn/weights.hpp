// Faster R-CNN weight files: a LibTorch archive with the model's weights under "model" and a JSON
// text under "meta" (format, variant, class names, image size), the idea of the YOLO checkpoint
// (vision/train/checkpoint.hpp) in a format of its own. train.faster_rcnn.weights loads one as
// starting weights: same variant, any class count.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "vision/core/error.hpp"

namespace torch::serialize {
class OutputArchive;
}  // namespace torch::serialize

namespace vision::train::faster_rcnn {

struct FasterRcnnImpl;

struct WeightsMeta {
  std::string variant;             // VariantSpec::name
  std::vector<std::string> names;  // Vision's classes, background excluded
  int64_t img_size = 800;
};

// Writes through a temporary file and a rename, so a crash never leaves half a file.
Expected<void> save_weights(const std::filesystem::path& path, FasterRcnnImpl& model, const WeightsMeta& meta);

// save_weights plus the entries `extra` writes beside "meta" and "model" (a training's checkpoint
// adds its state for resume); load_weights reads such a file as it reads any other.
Expected<void> save_weights(const std::filesystem::path& path, FasterRcnnImpl& model, const WeightsMeta& meta,
                            const std::function<void(torch::serialize::OutputArchive&)>& extra);

// The meta record of a weight file, without a model to load it into: not_found when there is no
// file; a file of another format (a YOLO checkpoint) is an ErrorCode::invalid_data error, so
// callers (val, export) can tell the two kinds of .pt apart.
Expected<WeightsMeta> read_weights_meta(const std::filesystem::path& path);

struct LoadedWeights {
  WeightsMeta meta;
  bool predictor_reinitialised = false;  // the class counts differed: box_predictor kept its start
};

// Copies a weight file of the model's variant into `model`. When the file's class count differs
// from the model's, roi_heads.box_predictor.* are skipped and keep their fresh initialisation;
// any other missing entry or shape difference is an ErrorCode::invalid_data error naming the
// file and the first such key, and the model is then left partly loaded.
Expected<LoadedWeights> load_weights(const std::filesystem::path& path, FasterRcnnImpl& model);

}  // namespace vision::train::faster_rcnn
