#include "vision/data/synthetic_shapes.hpp"

#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vision/data/yolo_dataset.hpp"

namespace fs = std::filesystem;

namespace vision {

namespace {

// Small, explicit distributions so a seed gives the same data on every standard library.
class Random {
 public:
  explicit Random(std::uint64_t seed) : m_engine(seed) {}
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * (static_cast<double>(m_engine() >> 11) * 0x1.0p-53);
  }
  int integer(int lo, int hi_exclusive) {
    return lo + static_cast<int>(m_engine() % static_cast<std::uint64_t>(hi_exclusive - lo));
  }
  double normal() {  // Box–Muller
    const double u1 = std::max(uniform(0, 1), 1e-12);
    const double u2 = uniform(0, 1);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * std::numbers::pi * u2);
  }
  cv::Scalar color() { return {uniform(0, 255), uniform(0, 255), uniform(0, 255)}; }

 private:
  std::mt19937_64 m_engine;
};

cv::Mat background(Random& rng, int s) {
  cv::Mat img(s, s, CV_32FC3, cv::Scalar::all(0));
  cv::Mat weight(s, s, CV_32F);
  for (int blob = 0; blob < 6; ++blob) {  // low-frequency colour blobs
    const cv::Scalar c = rng.color();
    const double x = rng.uniform(0, s), y = rng.uniform(0, s), r = rng.uniform(s / 6.0, s / 2.0);
    for (int yy = 0; yy < s; ++yy) {
      float* row = weight.ptr<float>(yy);
      for (int xx = 0; xx < s; ++xx) {
        row[xx] = static_cast<float>(std::exp(-((xx - x) * (xx - x) + (yy - y) * (yy - y)) / (2 * r * r)));
      }
    }
    for (int yy = 0; yy < s; ++yy) {
      auto* px = img.ptr<cv::Vec3f>(yy);
      const float* w = weight.ptr<float>(yy);
      for (int xx = 0; xx < s; ++xx) {
        for (int ch = 0; ch < 3; ++ch) px[xx][ch] = px[xx][ch] * (1 - w[xx]) + static_cast<float>(c[ch]) * w[xx];
      }
    }
  }
  const int lines = rng.integer(5, 15);
  for (int i = 0; i < lines; ++i) {  // distractor lines
    const cv::Scalar c = rng.color();
    const cv::Point p1(static_cast<int>(rng.uniform(0, s)), static_cast<int>(rng.uniform(0, s)));
    const cv::Point p2(static_cast<int>(rng.uniform(0, s)), static_cast<int>(rng.uniform(0, s)));
    cv::line(img, p1, p2, c, rng.integer(1, 4));
  }
  for (int yy = 0; yy < s; ++yy) {
    auto* px = img.ptr<cv::Vec3f>(yy);
    for (int xx = 0; xx < s; ++xx) {
      for (int ch = 0; ch < 3; ++ch) px[xx][ch] += static_cast<float>(8.0 * rng.normal());
    }
  }
  cv::Mat out;
  img.convertTo(out, CV_8UC3);  // saturating
  return out;
}

std::vector<cv::Point> polygon(int kind, double cx, double cy, double r, double rotation) {
  const int n = kind == 1 ? 4 : kind == 2 ? 3 : 10;
  std::vector<cv::Point> points;
  for (int i = 0; i < n; ++i) {
    const double radius = kind == 3 && i % 2 == 1 ? r * 0.45 : r;
    const double angle = rotation + 2 * std::numbers::pi * i / n;
    points.emplace_back(static_cast<int>(cx + radius * std::cos(angle)), static_cast<int>(cy + radius * std::sin(angle)));
  }
  return points;
}

}  // namespace

ShapeSample make_shape_sample(std::uint64_t seed, const ShapeOptions& options) {
  Random rng(seed);
  const int s = options.size;
  ShapeSample sample;
  sample.image = background(rng, s);
  const int count = rng.integer(options.min_shapes, options.max_shapes + 1);
  for (int i = 0; i < count; ++i) {
    const int kind = rng.integer(0, 4);
    const double r = rng.uniform(s * 0.04, s * 0.16);
    const double cx = rng.uniform(r, s - r);
    const double cy = rng.uniform(r, s - r);
    const cv::Scalar color = rng.color();
    double x1, y1, x2, y2;
    if (kind == 0) {
      cv::circle(sample.image, cv::Point(static_cast<int>(cx), static_cast<int>(cy)), static_cast<int>(r), color, cv::FILLED, cv::LINE_AA);
      x1 = cx - r, y1 = cy - r, x2 = cx + r, y2 = cy + r;
    } else {
      const auto points = polygon(kind, cx, cy, r, rng.uniform(0, 2 * std::numbers::pi));
      cv::fillPoly(sample.image, std::vector<std::vector<cv::Point>>{points}, color, cv::LINE_AA);
      const cv::Rect bounds = cv::boundingRect(points);
      x1 = bounds.x, y1 = bounds.y, x2 = bounds.x + bounds.width - 1, y2 = bounds.y + bounds.height - 1;
    }
    x1 = std::max(0.0, x1), y1 = std::max(0.0, y1), x2 = std::min<double>(s, x2), y2 = std::min<double>(s, y2);
    sample.boxes.push_back({kind, static_cast<float>((x1 + x2) / 2 / s), static_cast<float>((y1 + y2) / 2 / s),
                            static_cast<float>((x2 - x1) / s), static_cast<float>((y2 - y1) / s)});
  }
  return sample;
}

Expected<void> write_shape_dataset(const ShapeDatasetOptions& options) {
  std::uint64_t seed = options.seed * 1'000'003ULL;
  for (const auto& [split, count] : {std::pair<std::string, int>{"train", options.train_images}, {"val", options.val_images}}) {
    std::error_code ec;
    fs::create_directories(options.out_dir / "images" / split, ec);
    fs::create_directories(options.out_dir / "labels" / split, ec);
    if (ec) return fail(ErrorCode::io, "cannot create " + (options.out_dir / "images" / split).string() + ": " + ec.message());
    for (int i = 0; i < count; ++i) {
      const ShapeSample sample = make_shape_sample(seed++, {options.size, 1, 6});
      char name[32];
      std::snprintf(name, sizeof name, "%s_%05d", split.c_str(), i);
      const fs::path image = options.out_dir / "images" / split / (std::string(name) + ".jpg");
      if (!cv::imwrite(image.string(), sample.image, {cv::IMWRITE_JPEG_QUALITY, 92})) {
        return fail(ErrorCode::io, "cannot write " + image.string());
      }
      if (auto ok = write_yolo_labels(options.out_dir / "labels" / split / (std::string(name) + ".txt"), sample.boxes); !ok) return ok;
    }
  }
  return write_dataset_yaml(options.out_dir, {.train = "images/train", .val = "images/val", .names = k_shape_class_names});
}

}  // namespace vision
