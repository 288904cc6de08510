// Annotation drawing shared by predict, autolabel previews and the edge runner: class-coloured
// boxes with "name score" labels whose line width and font scale follow the image size.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "vision/core/contracts.hpp"

namespace vision {

cv::Scalar class_color(int class_id);
void draw_detections(cv::Mat& image, const std::vector<Detection>& detections);

}  // namespace vision
