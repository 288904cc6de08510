#include "vision/edge/frame_source.hpp"

#include <algorithm>
#include <vector>

#include <opencv2/videoio.hpp>

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

namespace {

class ImageFolderSource final : public FrameSource {
 public:
  ImageFolderSource(fs::path dir, std::vector<fs::path> files) : m_dir(std::move(dir)), m_files(std::move(files)) {}

  Expected<std::optional<Frame>> next() override {
    while (m_position < m_files.size()) {
      const fs::path& file = m_files[m_position++];
      auto image = read_image(file);
      if (!image) {
        ++m_failures;
        log::warn("deploy.edge.frame.unreadable", image.error().message);
        continue;
      }
      return Frame{m_index++, file.lexically_relative(m_dir), std::move(*image)};
    }
    return std::nullopt;
  }
  bool live() const override { return false; }
  std::string describe() const override { return "images " + m_dir.string() + " (" + std::to_string(m_files.size()) + " files)"; }
  std::int64_t failures() const override { return m_failures; }

 private:
  fs::path m_dir;
  std::vector<fs::path> m_files;
  size_t m_position = 0;
  std::int64_t m_index = 0;
  std::int64_t m_failures = 0;
};

class VideoFileSource final : public FrameSource {
 public:
  explicit VideoFileSource(fs::path path) : m_path(std::move(path)) {}
  Expected<void> open() {
    if (!m_capture.open(m_path.string(), cv::CAP_FFMPEG)) {
      return fail(ErrorCode::invalid_data, "deploy.edge.video_path: cannot open " + m_path.string() + " as a video");
    }
    return {};
  }
  Expected<std::optional<Frame>> next() override {
    Frame frame;
    if (!m_capture.read(frame.image) || frame.image.empty()) return std::nullopt;
    frame.index = m_index++;
    return frame;
  }
  bool live() const override { return false; }
  std::string describe() const override { return "video " + m_path.string(); }

 private:
  fs::path m_path;
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
      return fail(ErrorCode::not_found, "deploy.edge.camera_id = " + std::to_string(m_options.camera_id) + ": cannot open camera " +
                                            std::to_string(m_options.camera_id) + " (/dev/video" +
                                            std::to_string(m_options.camera_id) + ")");
    }
    return fail(ErrorCode::not_found, "deploy.edge.rtsp_url: cannot open " + describe());
  }

  Expected<std::optional<Frame>> next() override {
    double backoff = m_options.reconnect_initial_sec;
    while (!interrupt::requested()) {
      Frame frame;
      if (m_capture.isOpened() && m_capture.read(frame.image) && !frame.image.empty()) {
        frame.index = m_index++;
        return frame;
      }
      log::warn("deploy.edge.source.lost", describe() + " dropped; reconnecting in " + std::to_string(backoff) + " s");
      if (!interrupt::sleep_for(std::chrono::milliseconds(static_cast<long>(backoff * 1000)))) break;
      backoff = std::min(backoff * 2, m_options.reconnect_max_sec);
      ++m_reconnects;
      if (reopen()) log::info("deploy.edge.source.reconnected", describe() + " is back");
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

}  // namespace

Expected<std::unique_ptr<FrameSource>> open_frame_source(const FrameSourceOptions& options) {
  std::error_code ec;
  switch (options.kind) {
    case FrameSourceKind::images: {
      if (!fs::is_directory(options.images_dir, ec)) {
        return fail(ErrorCode::not_found, "deploy.edge.images_dir: folder not found: " + options.images_dir.string());
      }
      auto files = list_images(options.images_dir);
      if (files.empty()) return fail(ErrorCode::not_found, "deploy.edge.images_dir: no images in " + options.images_dir.string());
      return std::make_unique<ImageFolderSource>(options.images_dir, std::move(files));
    }
    case FrameSourceKind::video: {
      if (!fs::is_regular_file(options.video_path, ec)) {
        return fail(ErrorCode::not_found, "deploy.edge.video_path: file not found: " + options.video_path.string());
      }
      auto source = std::make_unique<VideoFileSource>(options.video_path);
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

}  // namespace vision
