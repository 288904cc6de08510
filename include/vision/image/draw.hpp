// Annotation drawing shared by predict, autolabel previews and the edge runner: class-coloured
// boxes with "name score" labels, and notes, whose line width and font scale follow the image size.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "vision/core/contracts.hpp"

namespace vision {

cv::Scalar class_color(int class_id);
void draw_detections(cv::Mat& image, const std::vector<Detection>& detections);
// One line of text on a dark band across the top of the image, for what the image cannot show
// as boxes (a server that sent counts without boxes).
void draw_note(cv::Mat& image, const std::string& text);

}  // namespace vision
