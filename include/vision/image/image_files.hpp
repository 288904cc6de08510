// Finding and reading image files (jpg, jpeg, png, bmp, webp; any letter case).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
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
// The file's bytes, undecoded (read_image = this + decode_image); for a caller that also
// needs the encoded form, e.g. to send it on as it is.
Expected<std::vector<unsigned char>> read_image_bytes(const std::filesystem::path& path);

// What a decoder accepts from bytes it did not choose (a client's frame).
struct ImageLimits {
  std::int64_t max_pixels = 0;  // width × height from the header, checked before decoding; 0 = no cap
  bool jpeg_only = false;       // refuse every other format
};

// Decodes encoded image bytes (JPEG, PNG, …) into a colour image; `what` names them in errors.
// A JPEG without its end-of-image marker is refused as truncated before libjpeg sees it (the
// test Ultralytics makes), so no half-grey image and no library warning on stderr. With a
// pixel cap, an image larger than it is ErrorCode::payload_too_large and is never decoded, and
// a format whose header size is not read here (neither JPEG nor PNG) is refused.
Expected<cv::Mat> decode_image(std::span<const unsigned char> bytes, const std::string& what, const ImageLimits& limits = {});

// The width and height a JPEG (its SOF marker) or PNG (its IHDR) header declares; nullopt for
// other formats or a header cut short.
std::optional<cv::Size> encoded_image_size(std::span<const unsigned char> bytes);

// Silences OpenCV's, FFmpeg's and GStreamer's own logging, so that Vision's one line about a
// camera, video or image is all a user reads; OPENCV_LOG_LEVEL and OPENCV_FFMPEG_LOGLEVEL set
// in the environment still win. Call once at start-up, before any capture is opened.
void quiet_image_library_logs();

}  // namespace vision
