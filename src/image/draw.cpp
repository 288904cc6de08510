#include "vision/image/draw.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/imgproc.hpp>

namespace vision {

cv::Scalar class_color(int class_id) {
  // Ultralytics' palette (RGB), so our annotations look like the tools users know.
  static const unsigned k_palette[] = {0xFF3838, 0xFF9D97, 0xFF701F, 0xFFB21D, 0xCFD231,
                                       0x48F90A, 0x92CC17, 0x3DDB86, 0x1A9334, 0x00D4BB,
                                       0x2C99A8, 0x00C2FF, 0x344593, 0x6473FF, 0x0018EC,
                                       0x8438FF, 0x520085, 0xCB38FF, 0xFF95C8, 0xFF37C7};
  const unsigned rgb = k_palette[static_cast<unsigned>(std::max(class_id, 0)) % 20];
  return {static_cast<double>(rgb & 0xFF), static_cast<double>((rgb >> 8) & 0xFF),
          static_cast<double>((rgb >> 16) & 0xFF)};
}

namespace {

// Line width and text size that follow the image size, as Ultralytics' annotator does.
struct Pen {
  int line;
  double font_scale;
  int font_thickness;
};

Pen pen_for(const cv::Mat& image) {
  const int line = std::max(static_cast<int>(std::lround((image.rows + image.cols) / 2.0 * 0.003)), 2);
  return {line, line / 3.0, std::max(line - 1, 1)};
}

}  // namespace

void draw_detections(cv::Mat& image, const std::vector<Detection>& detections) {
  const auto [line, font_scale, font_thickness] = pen_for(image);
  for (const auto& d : detections) {
    const cv::Scalar color = class_color(d.class_id);
    const cv::Point p1(static_cast<int>(d.bbox_xyxy[0]), static_cast<int>(d.bbox_xyxy[1]));
    const cv::Point p2(static_cast<int>(d.bbox_xyxy[2]), static_cast<int>(d.bbox_xyxy[3]));
    cv::rectangle(image, p1, p2, color, line, cv::LINE_AA);
    char text[160];
    std::snprintf(text, sizeof text, "%s %.2f", d.class_name.c_str(), d.score);
    int baseline = 0;
    const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font_scale, font_thickness, &baseline);
    // The label sits above the box, or inside it when the box touches the top edge.
    const bool outside = p1.y - size.height - 3 >= 0;
    // Slide the label left when it would run off the right edge.
    const cv::Point label_p1(std::max(0, std::min(p1.x, image.cols - size.width)), p1.y);
    const cv::Point label_p2(label_p1.x + size.width, outside ? p1.y - size.height - 3 : p1.y + size.height + 3);
    cv::rectangle(image, label_p1, label_p2, color, cv::FILLED, cv::LINE_AA);
    const double luminance = 0.299 * color[2] + 0.587 * color[1] + 0.114 * color[0];
    const cv::Scalar text_color = luminance > 150 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
    cv::putText(image, text, cv::Point(label_p1.x, outside ? p1.y - 2 : p1.y + size.height + 2),
                cv::FONT_HERSHEY_SIMPLEX, font_scale, text_color, font_thickness, cv::LINE_AA);
  }
}

void draw_note(cv::Mat& image, const std::string& text) {
  const Pen pen = pen_for(image);
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, pen.font_scale, pen.font_thickness, &baseline);
  const int band = size.height + baseline + 2 * pen.line;
  cv::rectangle(image, cv::Point(0, 0), cv::Point(image.cols, band), cv::Scalar(0, 0, 0), cv::FILLED);
  cv::putText(image, text, cv::Point(pen.line, pen.line + size.height), cv::FONT_HERSHEY_SIMPLEX, pen.font_scale,
              cv::Scalar(255, 255, 255), pen.font_thickness, cv::LINE_AA);
}

}  // namespace vision
