#include "vision/image/image_files.hpp"

#include <algorithm>

#include <opencv2/imgcodecs.hpp>

namespace fs = std::filesystem;

namespace vision {

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::ranges::transform(ext, ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp";
}

std::vector<fs::path> list_images(const fs::path& dir, bool recursive) {
  std::vector<fs::path> images;
  std::error_code ec;
  const auto add = [&](const fs::directory_entry& entry) {
    if (entry.is_regular_file(ec) && is_image_file(entry.path())) images.push_back(entry.path());
  };
  if (recursive) {
    for (const auto& entry : fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec)) add(entry);
  } else {
    for (const auto& entry : fs::directory_iterator(dir, ec)) add(entry);
  }
  std::ranges::sort(images);
  return images;
}

Expected<cv::Mat> read_image(const fs::path& path) {
  cv::Mat image;
  try {
    image = cv::imread(path.string(), cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    return fail(ErrorCode::invalid_data, path.string() + ": cannot decode image: " + e.what());
  }
  if (image.empty()) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return fail(ErrorCode::not_found, path.string() + ": image not found");
    return fail(ErrorCode::invalid_data, path.string() + ": unreadable or corrupt image");
  }
  return image;
}

}  // namespace vision
