#include "vision/image/image_files.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
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

bool is_jpeg(std::span<const unsigned char> b) { return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }

std::uint32_t big_endian(std::span<const unsigned char> b, std::size_t at, int bytes) {
  std::uint32_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | b[at + static_cast<std::size_t>(i)];
  return value;
}

// Walks the JPEG markers to the first start-of-frame (SOF0–SOF15 but DHT, JPG and DAC).
std::optional<cv::Size> jpeg_size(std::span<const unsigned char> b) {
  std::size_t at = 2;
  while (at + 4 <= b.size()) {
    if (b[at] != 0xFF) return std::nullopt;
    const unsigned char marker = b[at + 1];
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // markers without a length
      at += 2;
      continue;
    }
    const std::size_t length = big_endian(b, at + 2, 2);
    if (length < 2) return std::nullopt;
    const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame) {
      if (at + 9 > b.size()) return std::nullopt;
      return cv::Size(static_cast<int>(big_endian(b, at + 7, 2)), static_cast<int>(big_endian(b, at + 5, 2)));
    }
    if (marker == 0xDA) return std::nullopt;  // scan data before any frame header
    at += 2 + length;
  }
  return std::nullopt;
}

}  // namespace

std::optional<cv::Size> encoded_image_size(std::span<const unsigned char> b) {
  if (is_jpeg(b)) return jpeg_size(b);
  static constexpr unsigned char k_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (b.size() >= 24 && std::equal(std::begin(k_png), std::end(k_png), b.begin()) && b[12] == 'I' && b[13] == 'H' &&
      b[14] == 'D' && b[15] == 'R') {
    const auto width = big_endian(b, 16, 4), height = big_endian(b, 20, 4);
    if (width > INT32_MAX || height > INT32_MAX) return cv::Size(INT32_MAX, INT32_MAX);
    return cv::Size(static_cast<int>(width), static_cast<int>(height));
  }
  return std::nullopt;
}

Expected<cv::Mat> decode_image(std::span<const unsigned char> bytes, const std::string& what, const ImageLimits& limits) {
  if (bytes.empty()) return fail(ErrorCode::invalid_data, what + ": empty image");
  if (limits.jpeg_only && !is_jpeg(bytes)) return fail(ErrorCode::invalid_data, what + ": not a JPEG (this route takes JPEG only)");
  if (limits.max_pixels > 0) {
    const auto size = encoded_image_size(bytes);
    if (!size) return fail(ErrorCode::invalid_data, what + ": no image size in the JPEG or PNG header");
    const std::int64_t pixels = static_cast<std::int64_t>(size->width) * size->height;
    if (size->width <= 0 || size->height <= 0) return fail(ErrorCode::invalid_data, what + ": the header declares an empty image");
    if (pixels > limits.max_pixels) {
      return fail(ErrorCode::payload_too_large, what + ": " + std::to_string(size->width) + "×" + std::to_string(size->height) +
                                                    " pixels is more than the " + std::to_string(limits.max_pixels) +
                                                    " allowed");
    }
  }
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

Expected<std::vector<unsigned char>> read_image_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return fail(ErrorCode::not_found, path.string() + ": image not found");
    return fail(ErrorCode::io, path.string() + ": cannot read image");
  }
  return std::vector<unsigned char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Expected<cv::Mat> read_image(const fs::path& path) {
  auto bytes = read_image_bytes(path);
  if (!bytes) return std::unexpected(bytes.error());
  return decode_image(*bytes, path.string());
}

void quiet_image_library_logs() {
  if (std::getenv("OPENCV_LOG_LEVEL") == nullptr) cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  // OpenCV reads this when it first loads FFmpeg; -8 is AV_LOG_QUIET.
  setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", /*overwrite=*/0);
  // GStreamer prints its own warnings; Vision opens files and streams with FFmpeg and cameras with V4L2.
  setenv("OPENCV_VIDEOIO_PRIORITY_GSTREAMER", "0", /*overwrite=*/0);
}

}  // namespace vision
