// Training-time augmentation, as Ultralytics 8.1 does it for detection (data/augment.py): load
// with the long side at the model size, Mosaic (2×2), RandomPerspective reduced to scale and
// translate, HSV jitter and a horizontal flip. Boxes are corner pixels of the current image.
// Plain OpenCV: the batch loader runs these on its worker threads. Private to src/train.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <random>
#include <vector>

#include <opencv2/core.hpp>

#include "vision/core/error.hpp"
#include "vision/data/yolo_dataset.hpp"

namespace vision::train {

struct LabeledBox {
  int class_id = 0;
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // pixels
};

struct Sample {
  cv::Mat image;  // BGR uint8
  std::vector<LabeledBox> boxes;
};

// Ultralytics' default hyper-parameters (mosaic is a probability per sample; the rest are the
// ranges of the random draws).
struct AugmentOptions {
  int img_size = 640;
  double mosaic = 1.0, hsv_h = 0.015, hsv_s = 0.7, hsv_v = 0.4, translate = 0.1, scale = 0.5,
         fliplr = 0.5;
};

// Reads an image and its boxes, resized so the long side is img_size (Ultralytics load_image).
// An unreadable image is an error naming the file.
Expected<Sample> load_sample(const DatasetItem& item, int img_size);

// img_size × img_size, padded with k_letterbox_pad_value and centred; never enlarges the image.
Sample letterbox_sample(const Sample& s, int img_size);

// Four images around a random centre of a 2s×2s canvas (s = img_size), boxes clipped to it.
Sample mosaic4(const std::array<const Sample*, 4>& parts, int img_size, std::mt19937_64& rng);

// Random scale and translation; the output is the input size + 2·border on each axis
// (border −s/2 turns a mosaic canvas back into s × s). Boxes that end up too small, too thin or
// mostly outside are dropped.
Sample random_affine(const Sample& s, const AugmentOptions& o, int border, std::mt19937_64& rng);

// Random gains on hue, saturation and value; geometry is untouched.
void augment_hsv(cv::Mat& bgr, const AugmentOptions& o, std::mt19937_64& rng);

void flip_horizontal(Sample& s);

// The whole training pipeline for one sample of a set of `dataset_size`: with `use_mosaic`
// (and probability o.mosaic) mosaic4 of the sample and three random others then random_affine
// with border −s/2; otherwise letterbox_sample then random_affine. Then HSV, then a flip with
// probability o.fliplr. `load` gives the loaded sample of a data-set index.
Expected<Sample> augment_training_sample(std::size_t index, std::size_t dataset_size,
                                         bool use_mosaic, const AugmentOptions& o,
                                         std::mt19937_64& rng,
                                         const std::function<Expected<Sample>(std::size_t)>& load);

}  // namespace vision::train
