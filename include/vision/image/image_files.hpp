// Finding and reading image files (jpg, jpeg, png, bmp, webp; any letter case).
#pragma once

#include <filesystem>
#include <vector>

#include <opencv2/core.hpp>

#include "vision/core/error.hpp"

namespace vision {

bool is_image_file(const std::filesystem::path& path);

// Image files under `dir`, sorted by path; recursive unless told otherwise.
std::vector<std::filesystem::path> list_images(const std::filesystem::path& dir, bool recursive = true);

// Reads a colour image; a missing, unreadable or corrupt file is ErrorCode::invalid_data
// naming the file.
Expected<cv::Mat> read_image(const std::filesystem::path& path);

}  // namespace vision
