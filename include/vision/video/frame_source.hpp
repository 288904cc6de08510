// Where frames come from: an image file, an image folder (sorted, recursive), a video file, a
// camera index, or an RTSP/HTTP stream URL (OpenCV with FFmpeg). Live sources (camera, stream)
// reconnect with back-off when they drop. The edge runner and predict read frames from here.
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
  std::filesystem::path relative;   // image sources: the path under the folder (a lone file: its name)
  std::filesystem::path file;       // image sources: the file as found
  cv::Mat image;                    // BGR
  // Video files: where the frame sits on the video's own clock, so that work paced "per second
  // of video" gives the same frames however fast they are read. Empty for other sources.
  std::optional<double> video_time_sec;
};

enum class FrameSourceKind { images, image_file, video, camera, stream };
// The words of deploy.edge.source: images | video | camera | rtsp (or stream).
Expected<FrameSourceKind> parse_frame_source_kind(const std::string& text);

struct FrameSourceOptions {
  FrameSourceKind kind = FrameSourceKind::images;
  std::filesystem::path path;         // images: the folder; image_file and video: the file
  int camera_id = 0;
  std::string url;                    // rtsp:// or http(s)://
  double reconnect_initial_sec = 0.5;
  double reconnect_max_sec = 10.0;
  // The setting the input came from, which errors name ("deploy.edge.images_dir", "--source"),
  // and the prefix of the source's log events ("deploy.edge", "predict").
  std::string setting = "source";
  std::string log_name = "video";
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // The next frame; nullopt at the end (or on interrupt). Unreadable image files are skipped,
  // logged and counted in failures().
  virtual Expected<std::optional<Frame>> next() = 0;
  // Live sources produce frames whether or not we keep up; files wait for us.
  virtual bool live() const = 0;
  virtual std::string describe() const = 0;
  virtual std::int64_t failures() const { return 0; }
  virtual std::int64_t reconnects() const { return 0; }
};

Expected<std::unique_ptr<FrameSource>> open_frame_source(const FrameSourceOptions& options);

// The name of a frame that has no file of its own (video, camera, stream): its index in six
// digits, "000042".
std::string numbered_frame_name(std::int64_t index);

}  // namespace vision
