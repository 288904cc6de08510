// A synthetic detection data set: coloured circles, squares, triangles and stars on cluttered,
// photo-like backgrounds, with exact boxes. Deterministic for a seed. Used by the tests, the
// benchmarks and `vision demo`; the same idea as ../shared/tools/gen_shapes.py.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vision/core/error.hpp"
#include "vision/data/yolo_labels.hpp"

namespace vision {

inline const std::vector<std::string> k_shape_class_names = {"circle", "square", "triangle", "star"};

struct ShapeSample {
  cv::Mat image;               // BGR, size × size
  std::vector<YoloBox> boxes;  // normalised
};

struct ShapeOptions {
  int size = 320;
  int min_shapes = 1;
  int max_shapes = 6;
};

// One sample from `seed` (same seed → same image).
ShapeSample make_shape_sample(std::uint64_t seed, const ShapeOptions& options = {});

struct ShapeDatasetOptions {
  std::filesystem::path out_dir;
  int train_images = 400;
  int val_images = 100;
  int size = 320;
  std::uint64_t seed = 7;
};

// Writes images/{train,val}/*.jpg, labels/{train,val}/*.txt and dataset.yaml.
Expected<void> write_shape_dataset(const ShapeDatasetOptions& options);

}  // namespace vision
