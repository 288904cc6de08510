// Letterbox: resize with the aspect ratio kept and pad to the model size (Ultralytics'
// LetterBox), and the inverse mapping of boxes back to the original image.
#pragma once

#include <array>

#include <opencv2/core.hpp>

namespace vision {

struct LetterboxTransform {
  float scale = 1.0F;   // model pixels per original pixel
  float pad_left = 0;   // model pixels added on the left
  float pad_top = 0;    // model pixels added on top
  int source_width = 0;
  int source_height = 0;
};

// The grey the padding is filled with, Ultralytics' value: a model trained on letterboxes of this
// grey sees the same grey when it is exported, validated and run.
inline constexpr int k_letterbox_pad_value = 114;

struct LetterboxOptions {
  int target_width = 640;
  int target_height = 640;
  int pad_value = k_letterbox_pad_value;
  bool scale_up = true;  // false: never enlarge small images
};

// Where an image of this size lands in the letterbox, without drawing it.
LetterboxTransform letterbox_transform(int width, int height, const LetterboxOptions& options);

// Writes the letterboxed image into `out` (reusing its buffer) and returns the transform.
LetterboxTransform letterbox(const cv::Mat& image, const LetterboxOptions& options, cv::Mat& out);

// Maps a box in model pixels back to original pixels, clipped to the image.
std::array<float, 4> unletterbox_box(const std::array<float, 4>& xyxy, const LetterboxTransform& t);

// BGR uint8 HWC → RGB float CHW scaled to [0, 1], written to `dst` (3·H·W floats).
void bgr_to_rgb_chw(const cv::Mat& bgr, float* dst);

}  // namespace vision
