#include "augment.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "vision/data/yolo_labels.hpp"
#include "vision/image/image_files.hpp"
#include "vision/image/letterbox.hpp"

namespace vision::train {

namespace {

// Explicit draws, so a seed gives the same augmentation on every standard library.
double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * (static_cast<double>(rng() >> 11) * 0x1.0p-53);
}

std::size_t random_index(std::mt19937_64& rng, std::size_t n) {
  return static_cast<std::size_t>(rng() % static_cast<std::uint64_t>(n));
}

// Ultralytics' box_candidates: `before` is the box scaled by the affine gain, `after` the
// clipped result.
bool keep_box(const LabeledBox& before, const LabeledBox& after) {
  constexpr double k_min_side = 2;    // pixels
  constexpr double k_min_area = 0.1;  // of the box had it stayed inside the image
  constexpr double k_max_aspect = 100;
  constexpr double k_eps = 1e-16;
  const double w1 = before.x2 - before.x1;
  const double h1 = before.y2 - before.y1;
  const double w2 = after.x2 - after.x1;
  const double h2 = after.y2 - after.y1;
  const double aspect = std::max(w2 / (h2 + k_eps), h2 / (w2 + k_eps));
  return w2 > k_min_side && h2 > k_min_side && w2 * h2 / (w1 * h1 + k_eps) > k_min_area &&
         aspect < k_max_aspect;
}

LabeledBox clip_box(LabeledBox b, float width, float height) {
  b.x1 = std::clamp(b.x1, 0.0F, width);
  b.x2 = std::clamp(b.x2, 0.0F, width);
  b.y1 = std::clamp(b.y1, 0.0F, height);
  b.y2 = std::clamp(b.y2, 0.0F, height);
  return b;
}

}  // namespace

Expected<Sample> load_sample(const DatasetItem& item, int img_size) {
  auto image = read_image(item.image);
  if (!image) return std::unexpected(std::move(image.error()));
  Sample sample;
  const int w0 = image->cols;
  const int h0 = image->rows;
  const double r = static_cast<double>(img_size) / std::max(w0, h0);
  if (r != 1.0) {
    const int w = std::min(static_cast<int>(std::ceil(w0 * r)), img_size);
    const int h = std::min(static_cast<int>(std::ceil(h0 * r)), img_size);
    cv::resize(*image, sample.image, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
  } else {
    sample.image = std::move(*image);
  }
  sample.boxes.reserve(item.boxes.size());
  for (const auto& b : item.boxes) {
    const auto [x1, y1, x2, y2] = yolo_box_to_xyxy(b, sample.image.cols, sample.image.rows);
    sample.boxes.push_back({b.class_id, x1, y1, x2, y2});
  }
  return sample;
}

Sample letterbox_sample(const Sample& s, int img_size) {
  Sample out;
  const auto t = letterbox(s.image, {img_size, img_size, k_letterbox_pad_value, false}, out.image);
  out.boxes.reserve(s.boxes.size());
  for (const auto& b : s.boxes) {
    out.boxes.push_back({b.class_id, b.x1 * t.scale + t.pad_left, b.y1 * t.scale + t.pad_top,
                         b.x2 * t.scale + t.pad_left, b.y2 * t.scale + t.pad_top});
  }
  return out;
}

Sample mosaic4(const std::array<const Sample*, 4>& parts, int img_size, std::mt19937_64& rng) {
  const int s = img_size;
  const int canvas = 2 * s;
  // The centre, drawn y first as Ultralytics does, in [s/2, 3s/2).
  const int yc = static_cast<int>(uniform(rng, s / 2.0, 1.5 * s));
  const int xc = static_cast<int>(uniform(rng, s / 2.0, 1.5 * s));
  Sample out;
  out.image = cv::Mat(canvas, canvas, parts[0]->image.type(), cv::Scalar::all(k_letterbox_pad_value));
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Sample& part = *parts[i];
    const int w = part.image.cols;
    const int h = part.image.rows;
    // a: where the image lands on the canvas; b: the part of the image that lands there. Each
    // image touches the centre with one corner and is cut only by the canvas edge.
    int x1a = 0, y1a = 0, x2a = 0, y2a = 0, x1b = 0, y1b = 0, x2b = 0, y2b = 0;
    if (i == 0) {  // top left
      x1a = std::max(xc - w, 0), y1a = std::max(yc - h, 0), x2a = xc, y2a = yc;
      x1b = w - (x2a - x1a), y1b = h - (y2a - y1a), x2b = w, y2b = h;
    } else if (i == 1) {  // top right
      x1a = xc, y1a = std::max(yc - h, 0), x2a = std::min(xc + w, canvas), y2a = yc;
      x1b = 0, y1b = h - (y2a - y1a), x2b = std::min(w, x2a - x1a), y2b = h;
    } else if (i == 2) {  // bottom left
      x1a = std::max(xc - w, 0), y1a = yc, x2a = xc, y2a = std::min(canvas, yc + h);
      x1b = w - (x2a - x1a), y1b = 0, x2b = w, y2b = std::min(y2a - y1a, h);
    } else {  // bottom right
      x1a = xc, y1a = yc, x2a = std::min(xc + w, canvas), y2a = std::min(canvas, yc + h);
      x1b = 0, y1b = 0, x2b = std::min(w, x2a - x1a), y2b = std::min(y2a - y1a, h);
    }
    if (x2a > x1a && y2a > y1a) {
      part.image(cv::Rect(x1b, y1b, x2b - x1b, y2b - y1b))
          .copyTo(out.image(cv::Rect(x1a, y1a, x2a - x1a, y2a - y1a)));
    }
    const auto pad_w = static_cast<float>(x1a - x1b);
    const auto pad_h = static_cast<float>(y1a - y1b);
    for (const auto& b : part.boxes) {
      const auto moved =
          clip_box({b.class_id, b.x1 + pad_w, b.y1 + pad_h, b.x2 + pad_w, b.y2 + pad_h},
                   static_cast<float>(canvas), static_cast<float>(canvas));
      if ((moved.x2 - moved.x1) * (moved.y2 - moved.y1) > 0) out.boxes.push_back(moved);
    }
  }
  return out;
}

Sample random_affine(const Sample& s, const AugmentOptions& o, int border, std::mt19937_64& rng) {
  const int out_w = s.image.cols + 2 * border;
  const int out_h = s.image.rows + 2 * border;
  const double gain = uniform(rng, 1 - o.scale, 1 + o.scale);
  const double tx = uniform(rng, 0.5 - o.translate, 0.5 + o.translate) * out_w;
  const double ty = uniform(rng, 0.5 - o.translate, 0.5 + o.translate) * out_h;
  // M = T·S·C: the centre to the origin, scale, then to (tx, ty). Without rotation or shear
  // the transformed corners' min/max is the transform of each axis' end points.
  const double off_x = tx - gain * s.image.cols / 2.0;
  const double off_y = ty - gain * s.image.rows / 2.0;
  const cv::Matx23d m(gain, 0, off_x, 0, gain, off_y);
  Sample out;
  cv::warpAffine(s.image, out.image, m, cv::Size(out_w, out_h), cv::INTER_LINEAR,
                 cv::BORDER_CONSTANT, cv::Scalar::all(k_letterbox_pad_value));
  const auto map = [](float v, double g, double off) { return static_cast<float>(g * v + off); };
  for (const auto& b : s.boxes) {
    const float ax = map(b.x1, gain, off_x), bx = map(b.x2, gain, off_x);
    const float ay = map(b.y1, gain, off_y), by = map(b.y2, gain, off_y);
    const auto moved = clip_box(
        {b.class_id, std::min(ax, bx), std::min(ay, by), std::max(ax, bx), std::max(ay, by)},
        static_cast<float>(out_w), static_cast<float>(out_h));
    const auto g = static_cast<float>(gain);
    if (keep_box({b.class_id, b.x1 * g, b.y1 * g, b.x2 * g, b.y2 * g}, moved)) {
      out.boxes.push_back(moved);
    }
  }
  return out;
}

void augment_hsv(cv::Mat& bgr, const AugmentOptions& o, std::mt19937_64& rng) {
  if (o.hsv_h == 0 && o.hsv_s == 0 && o.hsv_v == 0) return;
  const double rh = uniform(rng, -1, 1) * o.hsv_h + 1;
  const double rs = uniform(rng, -1, 1) * o.hsv_s + 1;
  const double rv = uniform(rng, -1, 1) * o.hsv_v + 1;
  // OpenCV's 8-bit hue is 0..179, so hue wraps at 180; the casts truncate as numpy's astype.
  cv::Mat lut(1, 256, CV_8UC3);
  for (int x = 0; x < 256; ++x) {
    lut.at<cv::Vec3b>(x) = {static_cast<uchar>(std::fmod(x * rh, 180.0)),
                            static_cast<uchar>(std::clamp(x * rs, 0.0, 255.0)),
                            static_cast<uchar>(std::clamp(x * rv, 0.0, 255.0))};
  }
  cv::Mat hsv;
  cv::cvtColor(bgr, hsv, cv::COLOR_BGR2HSV);
  cv::LUT(hsv, lut, hsv);
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
}

void flip_horizontal(Sample& s) {
  // Into a new buffer: the input may share pixels with a cached image.
  cv::Mat flipped;
  cv::flip(s.image, flipped, 1);
  s.image = flipped;
  const auto w = static_cast<float>(s.image.cols);
  for (auto& b : s.boxes) {
    const float x1 = w - b.x2;
    b.x2 = w - b.x1;
    b.x1 = x1;
  }
}

Expected<Sample> augment_training_sample(std::size_t index, std::size_t dataset_size,
                                         bool use_mosaic, const AugmentOptions& o,
                                         std::mt19937_64& rng,
                                         const std::function<Expected<Sample>(std::size_t)>& load) {
  const int size = o.img_size;
  auto first = load(index);
  if (!first) return first;
  Sample out;
  if (use_mosaic && uniform(rng, 0, 1) < o.mosaic) {
    // The three partners come from the whole set, repeats allowed, as Ultralytics' randint.
    std::array<Sample, 4> parts;
    parts[0] = std::move(*first);
    for (std::size_t k = 1; k < parts.size(); ++k) {
      auto partner = load(random_index(rng, dataset_size));
      if (!partner) return partner;
      parts[k] = std::move(*partner);
    }
    out = random_affine(mosaic4({&parts[0], &parts[1], &parts[2], &parts[3]}, size, rng), o,
                        -size / 2, rng);
  } else {
    out = random_affine(letterbox_sample(*first, size), o, 0, rng);
  }
  augment_hsv(out.image, o, rng);
  if (uniform(rng, 0, 1) < o.fliplr) flip_horizontal(out);
  return out;
}

}  // namespace vision::train
