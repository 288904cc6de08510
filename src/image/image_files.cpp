#include "vision/image/image_files.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include <opencv2/core/utils/logger.hpp>
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

namespace {

// A JPEG (FF D8 …) ends with FF D9; some cameras append a trailer, so the marker is looked for
// in the last 64 KiB rather than in the last two bytes only.
bool truncated_jpeg(std::span<const unsigned char> bytes) {
  if (bytes.size() < 4 || bytes[0] != 0xFF || bytes[1] != 0xD8) return false;
  const std::size_t from = bytes.size() > 65536 ? bytes.size() - 65536 : 2;
  for (std::size_t i = bytes.size() - 1; i > from; --i) {
    if (bytes[i] == 0xD9 && bytes[i - 1] == 0xFF) return false;
  }
  return true;
}

}  // namespace

Expected<cv::Mat> decode_image(std::span<const unsigned char> bytes, const std::string& what) {
  if (bytes.empty()) return fail(ErrorCode::invalid_data, what + ": empty image");
  if (truncated_jpeg(bytes)) return fail(ErrorCode::invalid_data, what + ": truncated JPEG (no end-of-image marker)");
  cv::Mat image;
  try {
    const cv::Mat encoded(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<unsigned char*>(bytes.data()));
    image = cv::imdecode(encoded, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    return fail(ErrorCode::invalid_data, what + ": cannot decode image: " + e.what());
  }
  if (image.empty()) return fail(ErrorCode::invalid_data, what + ": not a decodable image (corrupt, or a format OpenCV does not read)");
  return image;
}

Expected<cv::Mat> read_image(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return fail(ErrorCode::not_found, path.string() + ": image not found");
    return fail(ErrorCode::io, path.string() + ": cannot read image");
  }
  const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return decode_image(bytes, path.string());
}

void quiet_image_library_logs() {
  if (std::getenv("OPENCV_LOG_LEVEL") == nullptr) cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  // OpenCV reads this when it first loads FFmpeg; -8 is AV_LOG_QUIET.
  setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", /*overwrite=*/0);
  // GStreamer prints its own warnings; Vision opens files and streams with FFmpeg and cameras with V4L2.
  setenv("OPENCV_VIDEOIO_PRIORITY_GSTREAMER", "0", /*overwrite=*/0);
}

}  // namespace vision
