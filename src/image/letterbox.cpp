#include "vision/image/letterbox.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

namespace vision {

LetterboxTransform letterbox_transform(int width, int height, const LetterboxOptions& options) {
  LetterboxTransform t;
  t.source_width = width;
  t.source_height = height;
  float r = std::min(static_cast<float>(options.target_height) / static_cast<float>(height),
                     static_cast<float>(options.target_width) / static_cast<float>(width));
  if (!options.scale_up) r = std::min(r, 1.0F);
  const int new_w = static_cast<int>(std::lround(static_cast<float>(width) * r));
  const int new_h = static_cast<int>(std::lround(static_cast<float>(height) * r));
  const float dw = static_cast<float>(options.target_width - new_w) / 2.0F;
  const float dh = static_cast<float>(options.target_height - new_h) / 2.0F;
  // Same rounding as Ultralytics, so boxes line up with models it trained.
  t.scale = r;
  t.pad_left = static_cast<float>(std::lround(dw - 0.1F));
  t.pad_top = static_cast<float>(std::lround(dh - 0.1F));
  return t;
}

LetterboxTransform letterbox(const cv::Mat& image, const LetterboxOptions& options, cv::Mat& out) {
  const auto t = letterbox_transform(image.cols, image.rows, options);
  const int new_w = static_cast<int>(std::lround(static_cast<float>(image.cols) * t.scale));
  const int new_h = static_cast<int>(std::lround(static_cast<float>(image.rows) * t.scale));
  out.create(options.target_height, options.target_width, CV_8UC3);
  out.setTo(cv::Scalar::all(options.pad_value));
  cv::Mat roi = out(cv::Rect(static_cast<int>(t.pad_left), static_cast<int>(t.pad_top), new_w, new_h));
  if (new_w == image.cols && new_h == image.rows) {
    image.copyTo(roi);
  } else {
    cv::resize(image, roi, cv::Size(new_w, new_h), 0, 0, cv::INTER_LINEAR);
  }
  return t;
}

std::array<float, 4> unletterbox_box(const std::array<float, 4>& xyxy, const LetterboxTransform& t) {
  const auto map = [&](float v, float pad, int limit) {
    return std::clamp((v - pad) / t.scale, 0.0F, static_cast<float>(limit));
  };
  return {map(xyxy[0], t.pad_left, t.source_width), map(xyxy[1], t.pad_top, t.source_height),
          map(xyxy[2], t.pad_left, t.source_width), map(xyxy[3], t.pad_top, t.source_height)};
}

void bgr_to_rgb_chw(const cv::Mat& bgr, float* dst) {
  const int h = bgr.rows;
  const int w = bgr.cols;
  const size_t plane = static_cast<size_t>(h) * static_cast<size_t>(w);
  float* r = dst;
  float* g = dst + plane;
  float* b = dst + 2 * plane;
  constexpr float k_inv = 1.0F / 255.0F;
  for (int y = 0; y < h; ++y) {
    const uint8_t* row = bgr.ptr<uint8_t>(y);
    const size_t offset = static_cast<size_t>(y) * static_cast<size_t>(w);
    for (int x = 0; x < w; ++x) {
      b[offset + x] = static_cast<float>(row[3 * x + 0]) * k_inv;
      g[offset + x] = static_cast<float>(row[3 * x + 1]) * k_inv;
      r[offset + x] = static_cast<float>(row[3 * x + 2]) * k_inv;
    }
  }
}

}  // namespace vision
