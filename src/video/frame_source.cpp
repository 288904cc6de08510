#include "vision/video/frame_source.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include <opencv2/videoio.hpp>

#include "vision/core/exception_error.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/secrets.hpp"
#include "vision/image/image_files.hpp"

namespace fs = std::filesystem;

namespace vision {

Expected<FrameSourceKind> parse_frame_source_kind(const std::string& text) {
  if (text == "images") return FrameSourceKind::images;
  if (text == "video") return FrameSourceKind::video;
  if (text == "camera") return FrameSourceKind::camera;
  if (text == "rtsp" || text == "stream") return FrameSourceKind::stream;
  return fail(ErrorCode::config, "deploy.edge.source = \"" + text + "\": must be one of camera|video|images|rtsp");
}

std::string numbered_frame_name(std::int64_t index) {
  char name[32];
  std::snprintf(name, sizeof name, "%06lld", static_cast<long long>(index));
  return name;
}

namespace {

// Image files in order: a folder's (`root` is the folder) or a single file's (`root` empty).
class ImageFilesSource final : public FrameSource {
 public:
  ImageFilesSource(const FrameSourceOptions& options, fs::path root, std::vector<fs::path> files)
      : m_log_name(options.log_name), m_root(std::move(root)), m_files(std::move(files)) {}

  Expected<std::optional<Frame>> next() override {
    while (m_position < m_files.size()) {
      const fs::path& file = m_files[m_position++];
      auto image = read_image(file);
      if (!image) {
        ++m_failures;
        log::warn(m_log_name + ".frame.unreadable", image.error().message, {{"image", file.string()}});
        continue;
      }
      const fs::path relative = m_root.empty() ? file.filename() : file.lexically_relative(m_root);
      return Frame{m_index++, relative, file, std::move(*image)};
    }
    return std::nullopt;
  }
  bool live() const override { return false; }
  std::string describe() const override {
    if (m_root.empty()) return "image " + m_files.front().string();
    return "images " + m_root.string() + " (" + std::to_string(m_files.size()) + " files)";
  }
  std::int64_t failures() const override { return m_failures; }

 private:
  std::string m_log_name;
  fs::path m_root;
  std::vector<fs::path> m_files;
  size_t m_position = 0;
  std::int64_t m_index = 0;
  std::int64_t m_failures = 0;
};

class VideoFileSource final : public FrameSource {
 public:
  explicit VideoFileSource(const FrameSourceOptions& options) : m_path(options.path), m_setting(options.setting) {}
  Expected<void> open() {
    if (!m_capture.open(m_path.string(), cv::CAP_FFMPEG)) {
      return fail(ErrorCode::invalid_data, m_setting + ": cannot open " + m_path.string() + " as a video");
    }
    return {};
  }
  Expected<std::optional<Frame>> next() override {
    Frame frame;
    if (!m_capture.read(frame.image) || frame.image.empty()) return std::nullopt;
    frame.index = m_index++;
    frame.video_time_sec = m_capture.get(cv::CAP_PROP_POS_MSEC) / 1000.0;
    return frame;
  }
  bool live() const override { return false; }
  std::string describe() const override { return "video " + m_path.string(); }

 private:
  fs::path m_path;
  std::string m_setting;
  cv::VideoCapture m_capture;
  std::int64_t m_index = 0;
};

// A camera or a network stream: reads until the device or stream drops, then reopens it with
// exponential back-off until it answers again or the run is interrupted.
class LiveSource final : public FrameSource {
 public:
  LiveSource(FrameSourceOptions options) : m_options(std::move(options)) {}

  Expected<void> open() {
    if (reopen()) return {};
    if (m_options.kind == FrameSourceKind::camera) {
      return fail(ErrorCode::not_found, m_options.setting + " = " + std::to_string(m_options.camera_id) + ": cannot open camera " +
                                            std::to_string(m_options.camera_id) + " (/dev/video" +
                                            std::to_string(m_options.camera_id) + ")");
    }
    return fail(ErrorCode::not_found, m_options.setting + ": cannot open " + describe());
  }

  Expected<std::optional<Frame>> next() override {
    double backoff = m_options.reconnect_initial_sec;
    while (!interrupt::requested()) {
      Frame frame;
      if (m_capture.isOpened() && m_capture.read(frame.image) && !frame.image.empty()) {
        frame.index = m_index++;
        return frame;
      }
      log::warn(m_options.log_name + ".source.lost", describe() + " dropped; reconnecting in " + std::to_string(backoff) + " s");
      if (!interrupt::sleep_for(std::chrono::milliseconds(static_cast<long>(backoff * 1000)))) break;
      backoff = std::min(backoff * 2, m_options.reconnect_max_sec);
      ++m_reconnects;
      if (reopen()) log::info(m_options.log_name + ".source.reconnected", describe() + " is back");
    }
    return std::nullopt;
  }
  bool live() const override { return true; }
  std::string describe() const override {
    return m_options.kind == FrameSourceKind::camera ? "camera " + std::to_string(m_options.camera_id)
                                                     : "stream " + redact_url_secrets(m_options.url);
  }
  std::int64_t reconnects() const override { return m_reconnects; }

 private:
  bool reopen() {
    m_capture.release();
    if (m_options.kind == FrameSourceKind::camera) return m_capture.open(m_options.camera_id, cv::CAP_V4L2);
    return m_capture.open(m_options.url, cv::CAP_FFMPEG);
  }

  FrameSourceOptions m_options;
  cv::VideoCapture m_capture;
  std::int64_t m_index = 0;
  std::int64_t m_reconnects = 0;
};

Expected<std::unique_ptr<FrameSource>> open_source(const FrameSourceOptions& options) {
  std::error_code ec;
  switch (options.kind) {
    case FrameSourceKind::images: {
      if (!fs::is_directory(options.path, ec)) {
        return fail(ErrorCode::not_found, options.setting + ": folder not found: " + options.path.string());
      }
      auto files = list_images(options.path);
      if (files.empty()) return fail(ErrorCode::not_found, options.setting + ": no images in " + options.path.string());
      return std::make_unique<ImageFilesSource>(options, options.path, std::move(files));
    }
    case FrameSourceKind::image_file:
    case FrameSourceKind::video: {
      if (!fs::is_regular_file(options.path, ec)) {
        return fail(ErrorCode::not_found, options.setting + ": file not found: " + options.path.string());
      }
      if (options.kind == FrameSourceKind::image_file) {
        return std::make_unique<ImageFilesSource>(options, fs::path(), std::vector<fs::path>{options.path});
      }
      auto source = std::make_unique<VideoFileSource>(options);
      if (auto ok = source->open(); !ok) return std::unexpected(ok.error());
      return source;
    }
    case FrameSourceKind::camera:
    case FrameSourceKind::stream: {
      auto source = std::make_unique<LiveSource>(options);
      if (auto ok = source->open(); !ok) return std::unexpected(ok.error());
      return source;
    }
  }
  return fail(ErrorCode::config, "unknown frame source");
}

}  // namespace

Expected<std::unique_ptr<FrameSource>> open_frame_source(const FrameSourceOptions& options) {
  try {
    return open_source(options);
  } catch (...) {
    return std::unexpected(error_from_current_exception(options.setting + ": cannot open the frame source"));
  }
}

}  // namespace vision
