// Charts from OpenCV primitives: an Axes maps data to pixels inside a framed area with ticks and
// a light grid, and each writer lays its charts, labels and legend out on a white canvas.
#include "vision/eval/plots.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <tuple>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "vision/eval/detection_metrics.hpp"
#include "vision/image/draw.hpp"

namespace vision {

namespace {

constexpr int k_font = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar k_white(255, 255, 255);
const cv::Scalar k_black(0, 0, 0);
const cv::Scalar k_text(40, 40, 40);
const cv::Scalar k_grid(228, 228, 228);
// BGR of matplotlib's first two cycle colours, Ultralytics' "results" and "smooth" lines.
const cv::Scalar k_results_color(180, 119, 31);
const cv::Scalar k_smooth_color(14, 127, 255);
const cv::Scalar k_mean_color(255, 0, 0);  // the thick "all classes" PR curve
const cv::Scalar k_many_classes_color(160, 160, 160);

enum class Align { start, center, end };

int text_width(const std::string& text, double scale) {
  int baseline = 0;
  return cv::getTextSize(text, k_font, scale, 1, &baseline).width;
}

// Text vertically centred on `anchor`, which is its start, centre or end horizontally.
void put_text(cv::Mat& image, const std::string& text, cv::Point anchor, double scale,
              const cv::Scalar& color, Align align = Align::start) {
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, k_font, scale, 1, &baseline);
  if (align == Align::center) anchor.x -= size.width / 2;
  if (align == Align::end) anchor.x -= size.width;
  cv::putText(image, text, {anchor.x, anchor.y + size.height / 2}, k_font, scale, color, 1,
              cv::LINE_AA);
}

// OpenCV cannot rotate text: draw it on a strip, turn the strip a quarter counter-clockwise
// (the text then reads bottom to top) and copy it centred on `center`.
void put_vertical_text(cv::Mat& image, const std::string& text, cv::Point center, double scale,
                       const cv::Scalar& color) {
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, k_font, scale, 1, &baseline);
  cv::Mat strip(size.height + baseline + 2, size.width + 2, image.type(), k_white);
  cv::putText(strip, text, {1, size.height + 1}, k_font, scale, color, 1, cv::LINE_AA);
  cv::Mat turned;
  cv::rotate(strip, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
  const cv::Rect placed(center.x - turned.cols / 2, center.y - turned.rows / 2, turned.cols,
                        turned.rows);
  const cv::Rect visible = placed & cv::Rect(0, 0, image.cols, image.rows);
  turned(visible - placed.tl()).copyTo(image(visible));
}

// `text`, shortened with ".." until it fits `width` pixels.
std::string fit_text(std::string text, int width, double scale) {
  if (text_width(text, scale) <= width) return text;
  while (!text.empty() && text_width(text + "..", scale) > width) text.pop_back();
  return text + "..";
}

std::string format_number(double value, int decimals) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

struct Ticks {
  std::vector<double> values;
  int decimals = 0;  // enough to tell neighbouring ticks apart
};

// Ticks at a 1, 2 or 5 × 10^k step, about `count` of them over [lo, hi] (lo < hi).
Ticks nice_ticks(double lo, double hi, int count, double min_step = 0) {
  const double raw = std::max((hi - lo) / std::max(count, 1), min_step);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double residual = raw / magnitude;
  const double step = (residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10) * magnitude;
  Ticks ticks;
  ticks.decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 6);
  for (auto k = static_cast<long long>(std::ceil(lo / step - 1e-9));
       static_cast<double>(k) * step <= hi + step * 1e-9; ++k) {
    ticks.values.push_back(static_cast<double>(k) * step);
  }
  return ticks;
}

// [lo, hi] widened by 5 % each side as matplotlib does, or around a single value.
std::pair<double, double> padded_range(double lo, double hi) {
  if (hi <= lo) {
    const double half = lo == 0 ? 0.5 : std::abs(lo) * 0.1;
    return {lo - half, hi + half};
  }
  const double pad = (hi - lo) * 0.05;
  return {lo - pad, hi + pad};
}

// A plotting area in pixels and the data range it shows.
struct Axes {
  cv::Rect area;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;

  cv::Point to_pixel(double x, double y) const {
    return {area.x + cvRound((x - x_min) / (x_max - x_min) * (area.width - 1)),
            area.y + area.height - 1 - cvRound((y - y_min) / (y_max - y_min) * (area.height - 1))};
  }
};

// Grid, frame and numbered ticks; about one tick per `spacing` pixels.
void draw_axes(cv::Mat& image, const Axes& axes, int spacing, double x_min_step, double scale) {
  const cv::Rect& a = axes.area;
  const int bottom = a.y + a.height - 1;
  const Ticks xs = nice_ticks(axes.x_min, axes.x_max, a.width / spacing, x_min_step);
  for (double x : xs.values) {
    const int px = axes.to_pixel(x, axes.y_min).x;
    cv::line(image, {px, a.y}, {px, bottom}, k_grid);
    cv::line(image, {px, bottom}, {px, bottom + 4}, k_black);
    put_text(image, format_number(x, xs.decimals), {px, bottom + 13}, scale, k_text, Align::center);
  }
  const Ticks ys = nice_ticks(axes.y_min, axes.y_max, a.height / spacing);
  for (double y : ys.values) {
    const int py = axes.to_pixel(axes.x_min, y).y;
    cv::line(image, {a.x, py}, {a.x + a.width - 1, py}, k_grid);
    cv::line(image, {a.x - 4, py}, {a.x, py}, k_black);
    put_text(image, format_number(y, ys.decimals), {a.x - 7, py}, scale, k_text, Align::end);
  }
  cv::rectangle(image, a, k_black);
}

void draw_curve(cv::Mat& image, const Axes& axes, const std::vector<double>& xs,
                const std::vector<double>& ys, const cv::Scalar& color, int thickness) {
  std::vector<cv::Point> points;
  for (size_t i = 0; i < xs.size(); ++i) points.push_back(axes.to_pixel(xs[i], ys[i]));
  cv::polylines(image, points, false, color, thickness, cv::LINE_AA);
}

// A short line in the curve's colour and width, then the text: one legend row.
void draw_legend_entry(cv::Mat& image, cv::Point start, const std::string& text,
                       const cv::Scalar& color, int thickness, double scale) {
  cv::line(image, start, {start.x + 24, start.y}, color, thickness, cv::LINE_AA);
  put_text(image, text, {start.x + 32, start.y}, scale, k_text);
}

Expected<void> write_png(const std::filesystem::path& png, const cv::Mat& image) {
  try {
    if (cv::imwrite(png.string(), image)) return {};
  } catch (const cv::Exception& e) {
    return fail(ErrorCode::io, "cannot write " + png.string() + ": " + e.what());
  }
  return fail(ErrorCode::io, "cannot write " + png.string());
}

// scipy.ndimage.gaussian_filter1d with its defaults (mode "reflect", kernel radius 4σ), as
// Ultralytics smooths the lines of results.png.
std::vector<double> gaussian_smooth(const std::vector<double>& values, double sigma) {
  const auto n = static_cast<long>(values.size());
  const long radius = std::lround(4 * sigma);
  std::vector<double> kernel;
  for (long k = -radius; k <= radius; ++k)
    kernel.push_back(std::exp(-0.5 * static_cast<double>(k * k) / (sigma * sigma)));
  const double total = std::accumulate(kernel.begin(), kernel.end(), 0.0);
  // Reflection about the outer edges (d c b a | a b c d | d c b a), repeated for short series.
  const auto reflect = [n](long i) {
    const long k = ((i % (2 * n)) + 2 * n) % (2 * n);
    return static_cast<size_t>(k < n ? k : 2 * n - 1 - k);
  };
  std::vector<double> out(values.size(), 0.0);
  for (long i = 0; i < n; ++i) {
    for (long k = -radius; k <= radius; ++k) {
      out[static_cast<size_t>(i)] +=
          kernel[static_cast<size_t>(k + radius)] * values[reflect(i + k)];
    }
    out[static_cast<size_t>(i)] /= total;
  }
  return out;
}

constexpr double k_small_font = 0.4;
constexpr double k_font_scale = 0.45;
constexpr double k_title_font = 0.6;

void draw_series_chart(cv::Mat& image, const cv::Rect& cell, const Series& series,
                       bool epoch_label) {
  // Non-finite values are epochs without a value: the line joins the epochs around them.
  std::vector<double> epochs, values;
  for (size_t i = 0; i < series.values.size(); ++i) {
    if (!std::isfinite(series.values[i])) continue;
    epochs.push_back(static_cast<double>(i + 1));
    values.push_back(series.values[i]);
  }
  Axes axes;
  axes.area =
      cv::Rect(cell.x + 56, cell.y + 26, cell.width - 68, cell.height - (epoch_label ? 64 : 48));
  std::tie(axes.x_min, axes.x_max) =
      padded_range(1, static_cast<double>(std::max<size_t>(series.values.size(), 1)));
  if (!values.empty()) {
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    std::tie(axes.y_min, axes.y_max) = padded_range(*lo, *hi);
  }
  put_text(image, fit_text(series.name, cell.width - 8, k_font_scale),
           {axes.area.x + axes.area.width / 2, cell.y + 13}, k_font_scale, k_black, Align::center);
  draw_axes(image, axes, 40, 1, k_small_font);
  if (epoch_label) {
    put_text(image, "epoch",
             {axes.area.x + axes.area.width / 2, axes.area.y + axes.area.height + 30}, k_small_font,
             k_text, Align::center);
  }
  if (values.empty()) return;
  draw_curve(image, axes, epochs, gaussian_smooth(values, 3), k_smooth_color, 1);
  draw_curve(image, axes, epochs, values, k_results_color, 2);
  // Markers only while they stay apart; on long runs they would merge into a thick line.
  if (static_cast<double>(axes.area.width) / static_cast<double>(series.values.size()) >= 6) {
    for (size_t i = 0; i < values.size(); ++i) {
      cv::circle(image, axes.to_pixel(epochs[i], values[i]), 3, k_results_color, cv::FILLED,
                 cv::LINE_AA);
    }
  }
}

// matplotlib's "Blues" colour map (BGR anchors at 0, 1/8, …, 1), linear in between.
cv::Scalar blues(double value) {
  static const unsigned k_anchors[] = {0xF7FBFF, 0xDEEBF7, 0xC6DBEF, 0x9ECAE1, 0x6BAED6,
                                       0x4292C6, 0x2171B5, 0x08519C, 0x08306B};
  const double position = std::clamp(value, 0.0, 1.0) * 8;
  const auto low = static_cast<size_t>(std::min(position, 7.0));
  const double t = position - static_cast<double>(low);
  cv::Scalar color;
  for (int channel = 0; channel < 3; ++channel) {
    const double a = (k_anchors[low] >> (8 * channel)) & 0xFF,
                 b = (k_anchors[low + 1] >> (8 * channel)) & 0xFF;
    color[channel] = a + (b - a) * t;
  }
  return color;
}

// The largest scale up to `scale` at which `text` fits `width`, or 0 when none from 0.3 does.
double fitting_scale(const std::string& text, int width, double scale) {
  for (; scale >= 0.3; scale -= 0.05) {
    if (text_width(text, scale) <= width) return scale;
  }
  return 0;
}

}  // namespace

Expected<void> write_results_plot(const std::filesystem::path& png,
                                  const std::vector<Series>& series) {
  cv::Mat image(600, 1200, CV_8UC3, k_white);
  constexpr int k_legend_band = 24;
  const int rows = series.size() > 1 ? 2 : 1;
  const int columns = std::max(1, (static_cast<int>(series.size()) + rows - 1) / rows);
  const int cell_width = image.cols / columns, cell_height = (image.rows - k_legend_band) / rows;
  for (size_t i = 0; i < series.size(); ++i) {
    const int row = static_cast<int>(i) / columns, column = static_cast<int>(i) % columns;
    const cv::Rect cell(column * cell_width, k_legend_band + row * cell_height, cell_width,
                        cell_height);
    draw_series_chart(image, cell, series[i], row == rows - 1);
  }
  if (series.empty())
    draw_series_chart(image, {0, k_legend_band, image.cols, image.rows - k_legend_band}, {}, true);
  draw_legend_entry(image, {image.cols - 250, 14}, "results", k_results_color, 2, k_font_scale);
  draw_legend_entry(image, {image.cols - 130, 14}, "smooth", k_smooth_color, 1, k_font_scale);
  return write_png(png, image);
}

Expected<void> write_pr_curve_plot(const std::filesystem::path& png,
                                   const DetectionMetrics& metrics) {
  cv::Mat image(700, 900, CV_8UC3, k_white);
  // A hair beyond [0, 1] so curves at precision 1 or 0 stay off the frame.
  const Axes axes{cv::Rect(80, 50, 540, 580), -0.01, 1.01, -0.01, 1.01};
  put_text(image, "Precision-Recall Curve", {axes.area.x + axes.area.width / 2, 24}, k_title_font,
           k_black, Align::center);
  draw_axes(image, axes, 80, 0, k_font_scale);
  put_text(image, "Recall",
           {axes.area.x + axes.area.width / 2, axes.area.y + axes.area.height + 40}, k_font_scale,
           k_black, Align::center);
  put_vertical_text(image, "Precision", {22, axes.area.y + axes.area.height / 2}, k_font_scale,
                    k_black);

  std::vector<double> recall(k_pr_curve_points);
  for (int i = 0; i < k_pr_curve_points; ++i)
    recall[static_cast<size_t>(i)] = static_cast<double>(i) / (k_pr_curve_points - 1);
  std::vector<size_t> classes;  // those with a curve, i.e. with ground truth
  for (size_t c = 0; c < metrics.pr_curve.size(); ++c) {
    if (metrics.pr_curve[c].size() == recall.size()) classes.push_back(c);
  }
  // Beyond 20 classes a legend is unreadable: grey lines and only the mean, as Ultralytics.
  const bool per_class_legend = classes.size() <= 20;
  std::vector<double> mean(recall.size(), 0.0);
  for (size_t c : classes) {
    draw_curve(image, axes, recall, metrics.pr_curve[c],
               per_class_legend ? class_color(static_cast<int>(c)) : k_many_classes_color, 2);
    for (size_t i = 0; i < mean.size(); ++i)
      mean[i] += metrics.pr_curve[c][i] / static_cast<double>(classes.size());
  }
  if (!classes.empty()) draw_curve(image, axes, recall, mean, k_mean_color, 4);

  const cv::Rect legend(axes.area.x + axes.area.width + 18, axes.area.y,
                        image.cols - axes.area.x - axes.area.width - 26,
                        20 * (1 + (per_class_legend ? static_cast<int>(classes.size()) : 0)) + 8);
  cv::rectangle(image, legend, k_grid);
  int y = legend.y + 14;
  if (per_class_legend) {
    for (size_t c : classes) {
      const std::string ap =
          " " + format_number(c < metrics.per_class.size() ? metrics.per_class[c].ap50 : 0, 3);
      const std::string name =
          c < metrics.per_class.size() ? metrics.per_class[c].name : std::to_string(c);
      const int room = legend.width - 40 - text_width(ap, k_font_scale);
      draw_legend_entry(image, {legend.x + 6, y}, fit_text(name, room, k_font_scale) + ap,
                        class_color(static_cast<int>(c)), 2, k_font_scale);
      y += 20;
    }
  }
  draw_legend_entry(image, {legend.x + 6, y},
                    "all classes " + format_number(metrics.map50, 3) + " mAP@0.5", k_mean_color, 4,
                    k_font_scale);
  return write_png(png, image);
}

Expected<void> write_confusion_matrix_plot(const std::filesystem::path& png,
                                           const DetectionMetrics& metrics) {
  cv::Mat image(700, 800, CV_8UC3, k_white);
  const cv::Rect grid(130, 50, 520, 520);
  put_text(image, "Confusion Matrix Normalized", {grid.x + grid.width / 2, 24}, k_title_font,
           k_black, Align::center);
  put_text(image, "True", {grid.x + grid.width / 2, image.rows - 14}, k_font_scale, k_black,
           Align::center);
  put_vertical_text(image, "Predicted", {16, grid.y + grid.height / 2}, k_font_scale, k_black);

  const size_t n = metrics.confusion.size();
  std::vector<std::string> names;
  for (size_t c = 0; c + 1 < n; ++c)
    names.push_back(c < metrics.per_class.size() ? metrics.per_class[c].name : std::to_string(c));
  names.push_back("background");
  // Cell edges rounded from exact fractions, so cells tile the grid without a gap.
  const auto edge = [n](int origin, int length, size_t i) {
    return origin + static_cast<int>(std::lround(static_cast<double>(length) *
                                                 static_cast<double>(i) / static_cast<double>(n)));
  };
  std::vector<std::int64_t> column_totals(n, 0);
  for (const auto& row : metrics.confusion) {
    for (size_t t = 0; t < n && t < row.size(); ++t) column_totals[t] += row[t];
  }
  for (size_t p = 0; p < n; ++p) {
    for (size_t t = 0; t < n && t < metrics.confusion[p].size(); ++t) {
      const std::int64_t count = metrics.confusion[p][t];
      if (count == 0) continue;  // blank, as Ultralytics leaves shares under 0.005
      const double share = static_cast<double>(count) / static_cast<double>(column_totals[t]);
      const cv::Rect cell(
          cv::Point(edge(grid.x, grid.width, t), edge(grid.y, grid.height, p)),
          cv::Point(edge(grid.x, grid.width, t + 1), edge(grid.y, grid.height, p + 1)));
      cv::rectangle(image, cell, blues(share), cv::FILLED);
      const cv::Scalar ink = share > 0.5 ? k_white : k_black;
      const std::string share_text = format_number(share, 2),
                        count_text = "(" + std::to_string(count) + ")";
      const double scale =
          fitting_scale(count_text.size() > share_text.size() ? count_text : share_text,
                        cell.width - 4, k_font_scale);
      const cv::Point center(cell.x + cell.width / 2, cell.y + cell.height / 2);
      if (scale > 0 && cell.height >= 36) {
        put_text(image, share_text, {center.x, center.y - 8}, scale, ink, Align::center);
        put_text(image, count_text, {center.x, center.y + 9}, scale, ink, Align::center);
      } else if (scale > 0 && cell.height >= 14) {
        put_text(image, std::to_string(count), center, scale, ink, Align::center);
      }
    }
  }
  cv::rectangle(image, grid, k_text);

  // Class names beside the rows (predicted) and below the columns (true), while cells are tall
  // enough to tell them apart; the column names turn upright when they do not fit a cell.
  const int cell = grid.height / static_cast<int>(std::max<size_t>(n, 1));
  if (cell >= 10) {
    const double scale = std::min(k_font_scale, cell / 30.0);
    bool upright = false;
    for (const auto& name : names) upright = upright || text_width(name, scale) > cell - 4;
    for (size_t i = 0; i < n; ++i) {
      const int middle_y = (edge(grid.y, grid.height, i) + edge(grid.y, grid.height, i + 1)) / 2;
      const int middle_x = (edge(grid.x, grid.width, i) + edge(grid.x, grid.width, i + 1)) / 2;
      put_text(image, fit_text(names[i], grid.x - 40, scale), {grid.x - 6, middle_y}, scale, k_text,
               Align::end);
      const std::string label = fit_text(names[i], upright ? 90 : cell - 4, scale);
      if (upright) {
        put_vertical_text(image, label,
                          {middle_x, grid.y + grid.height + 8 + text_width(label, scale) / 2},
                          scale, k_text);
      } else {
        put_text(image, label, {middle_x, grid.y + grid.height + 14}, scale, k_text, Align::center);
      }
    }
  }

  // Colour bar: the share each colour stands for.
  const cv::Rect bar(grid.x + grid.width + 20, grid.y, 18, grid.height);
  for (int row = 0; row < bar.height; ++row) {
    const double value = 1.0 - static_cast<double>(row) / (bar.height - 1);
    cv::line(image, {bar.x, bar.y + row}, {bar.x + bar.width - 1, bar.y + row}, blues(value));
  }
  cv::rectangle(image, bar, k_text);
  for (int i = 0; i <= 5; ++i) {
    const int y = bar.y + bar.height - 1 - (bar.height - 1) * i / 5;
    cv::line(image, {bar.x + bar.width - 1, y}, {bar.x + bar.width + 3, y}, k_black);
    put_text(image, format_number(i / 5.0, 1), {bar.x + bar.width + 7, y}, k_small_font, k_text);
  }
  return write_png(png, image);
}

}  // namespace vision
