// The frame sources: an image folder (sorted, recursive, corrupt files skipped), a lone image
// file, a video file, errors that name the setting, and a live stream reopened with back-off.
#include <gtest/gtest.h>

#include <atomic>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "helpers/test_support.hpp"
#include "vision/net/http_server.hpp"
#include "vision/video/frame_source.hpp"

namespace fs = std::filesystem;
using vision::test::TempDir;

namespace {

// Every frame of the source: its relative path, or its index for frames without a file.
std::vector<std::string> drain(vision::FrameSource& source) {
  std::vector<std::string> names;
  while (true) {
    auto frame = source.next();
    EXPECT_TRUE(frame) << frame.error().message;
    if (!frame || !frame->has_value()) break;
    EXPECT_EQ((**frame).index, static_cast<std::int64_t>(names.size()));
    names.push_back((**frame).file.empty() ? std::to_string((**frame).index) : (**frame).relative.string());
  }
  return names;
}

void write_clip(const fs::path& file, int frames) {
  cv::VideoWriter writer(file.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(64, 48));
  ASSERT_TRUE(writer.isOpened());
  for (int i = 0; i < frames; ++i) writer.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar::all(i * 30)));
}

}  // namespace

TEST(FrameSource, ImageFolderIsSortedRecursiveAndSkipsCorruptFiles) {
  TempDir dir;
  for (const char* name : {"b.jpg", "a.jpg", "sub/c.png"}) {
    fs::create_directories((dir / name).parent_path());
    cv::imwrite((dir / name).string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(1)));
  }
  vision::test::write_text(dir / "broken.jpg", "nope");
  auto source = vision::open_frame_source({.kind = vision::FrameSourceKind::images, .path = dir.path()});
  ASSERT_TRUE(source) << source.error().message;
  EXPECT_FALSE((*source)->live());
  EXPECT_EQ(drain(**source), (std::vector<std::string>{"a.jpg", "b.jpg", "sub/c.png"}));
  EXPECT_EQ((*source)->failures(), 1);
}

TEST(FrameSource, ImageFileIsOneFrameNamedAfterTheFile) {
  TempDir dir;
  const fs::path file = dir / "one.png";
  cv::imwrite(file.string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(1)));
  auto source = vision::open_frame_source({.kind = vision::FrameSourceKind::image_file, .path = file});
  ASSERT_TRUE(source) << source.error().message;
  auto frame = (*source)->next();
  ASSERT_TRUE(frame && frame->has_value());
  EXPECT_EQ((**frame).relative, fs::path("one.png"));
  EXPECT_EQ((**frame).file, file);
  EXPECT_EQ((**frame).image.cols, 8);
  EXPECT_FALSE(*(*source)->next());

  vision::test::write_text(dir / "broken.jpg", "nope");
  auto broken = vision::open_frame_source({.kind = vision::FrameSourceKind::image_file, .path = dir / "broken.jpg"});
  ASSERT_TRUE(broken) << broken.error().message;
  EXPECT_TRUE(drain(**broken).empty());
  EXPECT_EQ((*broken)->failures(), 1);
}

TEST(FrameSource, VideoFileGivesEveryFrameWithItsTimeOnTheVideoClock) {
  TempDir dir;
  write_clip(dir / "clip.avi", 7);
  auto source = vision::open_frame_source({.kind = vision::FrameSourceKind::video, .path = dir / "clip.avi"});
  ASSERT_TRUE(source) << source.error().message;
  int frames = 0;
  while (true) {
    auto frame = (*source)->next();
    ASSERT_TRUE(frame);
    if (!frame->has_value()) break;
    EXPECT_EQ((**frame).image.cols, 64);
    EXPECT_TRUE((**frame).file.empty());
    ASSERT_TRUE((**frame).video_time_sec.has_value());
    EXPECT_NEAR(*(**frame).video_time_sec, frames / 10.0, 1e-3);  // the clip is 10 fps
    ++frames;
  }
  EXPECT_EQ(frames, 7);
}

TEST(FrameSource, MissingInputsAreErrorsNamingTheSetting) {
  TempDir dir;
  vision::test::write_text(dir / "notes.mp4", "not a video");
  struct Case {
    vision::FrameSourceOptions options;
    vision::ErrorCode code;
    std::string message;
  };
  for (const auto& c : {Case{{.kind = vision::FrameSourceKind::images, .path = "/nonexistent/frames", .setting = "deploy.edge.images_dir"},
                             vision::ErrorCode::not_found, "deploy.edge.images_dir: folder not found: /nonexistent/frames"},
                        Case{{.kind = vision::FrameSourceKind::images, .path = dir.path(), .setting = "--source"},
                             vision::ErrorCode::not_found, "--source: no images in " + dir.path().string()},
                        Case{{.kind = vision::FrameSourceKind::image_file, .path = "/nonexistent/a.jpg", .setting = "--source"},
                             vision::ErrorCode::not_found, "--source: file not found: /nonexistent/a.jpg"},
                        Case{{.kind = vision::FrameSourceKind::video, .path = "/nonexistent/v.mp4", .setting = "deploy.edge.video_path"},
                             vision::ErrorCode::not_found, "deploy.edge.video_path: file not found: /nonexistent/v.mp4"},
                        Case{{.kind = vision::FrameSourceKind::video, .path = dir / "notes.mp4", .setting = "--source"},
                             vision::ErrorCode::invalid_data, "--source: cannot open " + (dir / "notes.mp4").string() + " as a video"}}) {
    auto source = vision::open_frame_source(c.options);
    ASSERT_FALSE(source) << c.message;
    EXPECT_EQ(source.error().code, c.code) << c.message;
    EXPECT_EQ(source.error().message, c.message);
  }
  EXPECT_FALSE(vision::parse_frame_source_kind("usb"));
  // A stream that cannot be opened is named by its key and its URL, with the password redacted.
  auto stream = vision::open_frame_source(
      {.kind = vision::FrameSourceKind::stream, .url = "rtsp://admin:hunter2@127.0.0.1:9/cam", .setting = "deploy.edge.rtsp_url"});
  ASSERT_FALSE(stream);
  EXPECT_NE(stream.error().message.find("deploy.edge.rtsp_url"), std::string::npos) << stream.error().message;
  EXPECT_NE(stream.error().message.find("rtsp://admin:***@127.0.0.1:9/cam"), std::string::npos) << stream.error().message;
  EXPECT_EQ(stream.error().message.find("hunter2"), std::string::npos) << stream.error().message;
}

TEST(FrameSource, NumberedFrameNamesHaveSixDigits) {
  EXPECT_EQ(vision::numbered_frame_name(0), "000000");
  EXPECT_EQ(vision::numbered_frame_name(42), "000042");
  EXPECT_EQ(vision::numbered_frame_name(1234567), "1234567");
}

TEST(FrameSource, HttpStreamThatEndsIsReopenedWithBackoff) {
  // A real HTTP server on loopback serves a short MJPEG clip; each time the stream ends the
  // live source reconnects and reads it again.
  TempDir dir;
  write_clip(dir / "clip.avi", 5);
  const std::string clip = vision::test::read_text(dir / "clip.avi");
  std::atomic<int> requests{0};
  vision::net::HttpRouter router;
  router.add_route("GET", "/cam.avi", [&](const vision::net::HttpRequest&) {
    ++requests;
    return vision::net::HttpResponse::text(200, clip, "video/x-msvideo");
  });
  vision::net::HttpServer server({}, router);
  ASSERT_TRUE(server.start());
  auto source = vision::open_frame_source({.kind = vision::FrameSourceKind::stream,
                                           .url = "http://127.0.0.1:" + std::to_string(server.port()) + "/cam.avi",
                                           .reconnect_initial_sec = 0.05, .reconnect_max_sec = 0.2});
  ASSERT_TRUE(source) << source.error().message;
  EXPECT_TRUE((*source)->live());
  for (std::int64_t i = 0; i < 12; ++i) {
    auto frame = (*source)->next();
    ASSERT_TRUE(frame && frame->has_value()) << "frame " << i;
    EXPECT_EQ((**frame).index, i);
  }
  EXPECT_GE((*source)->reconnects(), 2);
  EXPECT_GE(requests.load(), 3);
}
