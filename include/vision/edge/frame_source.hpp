// Where edge frames come from: an image folder (sorted, recursive), a video file, a camera
// index, or an RTSP/HTTP stream URL (OpenCV with FFmpeg). Live sources (camera, stream)
// reconnect with back-off when they drop.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <opencv2/core.hpp>

#include "vision/core/error.hpp"

namespace vision {

struct Frame {
  std::int64_t index = 0;           // 0, 1, 2, … in capture order
  std::filesystem::path relative;   // image folders: the file's path under the folder
  cv::Mat image;                    // BGR
};

enum class FrameSourceKind { images, video, camera, stream };
Expected<FrameSourceKind> parse_frame_source_kind(const std::string& text);

struct FrameSourceOptions {
  FrameSourceKind kind = FrameSourceKind::images;
  std::filesystem::path images_dir;
  std::filesystem::path video_path;
  int camera_id = 0;
  std::string url;                    // rtsp:// or http(s)://
  double reconnect_initial_sec = 0.5;
  double reconnect_max_sec = 10.0;
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // The next frame; nullopt at the end (or on interrupt). Unreadable images in a folder are
  // skipped and counted in failures().
  virtual Expected<std::optional<Frame>> next() = 0;
  // Live sources produce frames whether or not we keep up; files wait for us.
  virtual bool live() const = 0;
  virtual std::string describe() const = 0;
  virtual std::int64_t failures() const { return 0; }
  virtual std::int64_t reconnects() const { return 0; }
};

Expected<std::unique_ptr<FrameSource>> open_frame_source(const FrameSourceOptions& options);

}  // namespace vision
