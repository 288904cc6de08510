#include <gtest/gtest.h>

#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "helpers/test_support.hpp"
#include "vision/core/base64.hpp"
#include "vision/core/bounded_queue.hpp"
#include "vision/edge/edge_runner.hpp"
#include "vision/edge/frame_source.hpp"
#include "vision/net/http_server.hpp"

namespace fs = std::filesystem;
using vision::test::TempDir;

TEST(Base64, RoundTripsEveryLengthAndRejectsGarbage) {
  for (size_t n = 0; n < 40; ++n) {
    std::vector<std::uint8_t> bytes(n);
    for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * 37 + 11);
    const std::string text = vision::base64_encode(bytes);
    EXPECT_EQ(text.size() % 4, 0U);
    auto back = vision::base64_decode(text);
    ASSERT_TRUE(back) << n;
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_EQ(vision::base64_encode(std::vector<std::uint8_t>{'M', 'a', 'n'}), "TWFu");
  EXPECT_EQ(vision::base64_encode(std::vector<std::uint8_t>{'M'}), "TQ==");
  EXPECT_EQ(*vision::base64_decode("data:image/jpeg;base64,TWFu"), (std::vector<std::uint8_t>{'M', 'a', 'n'}));
  EXPECT_FALSE(vision::base64_decode("TW!u"));
  EXPECT_FALSE(vision::base64_decode("TQ=a"));
  EXPECT_FALSE(vision::base64_decode("T"));
}

TEST(BoundedQueue, BlocksWhenFullAndDrainsAfterClose) {
  vision::BoundedQueue<int> queue(2);
  ASSERT_TRUE(queue.push(1));
  ASSERT_TRUE(queue.push(2));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    queue.push(3);  // waits for room
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(pushed);
  EXPECT_EQ(queue.pop(), 1);
  producer.join();
  EXPECT_TRUE(pushed);
  queue.close();
  EXPECT_FALSE(queue.push(4));
  EXPECT_EQ(queue.pop(), 2);
  EXPECT_EQ(queue.pop(), 3);
  EXPECT_EQ(queue.pop(), std::nullopt);
}

TEST(BoundedQueue, PushLatestDropsTheOldest) {
  vision::BoundedQueue<int> queue(2);
  EXPECT_EQ(queue.push_latest(1), 0);
  EXPECT_EQ(queue.push_latest(2), 0);
  EXPECT_EQ(queue.push_latest(3), 1);
  EXPECT_EQ(queue.pop(), 2);
  EXPECT_EQ(queue.pop(), 3);
  queue.close();
  EXPECT_EQ(queue.push_latest(4), -1);
}

TEST(AnnotatedName, FollowsTheSourceKind) {
  vision::Frame folder{3, "cam/a.png", {}};
  EXPECT_EQ(vision::annotated_name(folder, true), fs::path("cam/a_annotated.jpg"));
  vision::Frame video{42, {}, {}};
  EXPECT_EQ(vision::annotated_name(video, false), fs::path("000042.jpg"));
}

TEST(FrameSource, ImageFolderIsSortedRecursiveAndSkipsCorruptFiles) {
  TempDir dir;
  for (const char* name : {"b.jpg", "a.jpg", "sub/c.png"}) {
    fs::create_directories((dir / name).parent_path());
    cv::imwrite((dir / name).string(), cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(1)));
  }
  vision::test::write_text(dir / "broken.jpg", "nope");
  auto source = vision::open_frame_source({.kind = vision::FrameSourceKind::images, .images_dir = dir.path()});
  ASSERT_TRUE(source) << source.error().message;
  EXPECT_FALSE((*source)->live());
  std::vector<std::string> names;
  while (true) {
    auto frame = (*source)->next();
    ASSERT_TRUE(frame);
    if (!frame->has_value()) break;
    EXPECT_EQ((**frame).index, static_cast<std::int64_t>(names.size()));
    names.push_back((**frame).relative.string());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a.jpg", "b.jpg", "sub/c.png"}));
  EXPECT_EQ((*source)->failures(), 1);
}

TEST(FrameSource, VideoFileGivesEveryFrame) {
  TempDir dir;
  const fs::path video = dir / "clip.avi";
  {
    cv::VideoWriter writer(video.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(64, 48));
    ASSERT_TRUE(writer.isOpened());
    for (int i = 0; i < 7; ++i) writer.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar::all(i * 30)));
  }
  auto source = vision::open_frame_source({.kind = vision::FrameSourceKind::video, .video_path = video});
  ASSERT_TRUE(source) << source.error().message;
  int frames = 0;
  while (true) {
    auto frame = (*source)->next();
    ASSERT_TRUE(frame);
    if (!frame->has_value()) break;
    EXPECT_EQ((**frame).image.cols, 64);
    ++frames;
  }
  EXPECT_EQ(frames, 7);
}

TEST(FrameSource, MissingInputsAreNamedErrors) {
  auto folder = vision::open_frame_source({.kind = vision::FrameSourceKind::images, .images_dir = "/nonexistent/frames"});
  ASSERT_FALSE(folder);
  EXPECT_NE(folder.error().message.find("deploy.edge.images_dir"), std::string::npos);
  auto video = vision::open_frame_source({.kind = vision::FrameSourceKind::video, .video_path = "/nonexistent/v.mp4"});
  ASSERT_FALSE(video);
  EXPECT_NE(video.error().message.find("deploy.edge.video_path"), std::string::npos);
  EXPECT_FALSE(vision::parse_frame_source_kind("usb"));
  // A stream that cannot be opened is named by its key and its URL, with the password redacted.
  auto stream = vision::open_frame_source({.kind = vision::FrameSourceKind::stream, .url = "rtsp://admin:hunter2@127.0.0.1:9/cam"});
  ASSERT_FALSE(stream);
  EXPECT_NE(stream.error().message.find("deploy.edge.rtsp_url"), std::string::npos) << stream.error().message;
  EXPECT_NE(stream.error().message.find("rtsp://admin:***@127.0.0.1:9/cam"), std::string::npos) << stream.error().message;
  EXPECT_EQ(stream.error().message.find("hunter2"), std::string::npos) << stream.error().message;
}

namespace {

// Detects nothing, slowly: lets the test see the pipeline drop frames of a live source.
class SlowProcessor final : public vision::FrameProcessor {
 public:
  vision::Expected<std::vector<vision::Detection>> process(const vision::Frame& frame) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return std::vector<vision::Detection>{{0, "thing", 0.5F, {0, 0, 1, 1}}, {1, "other", 0.5F, {0, 0, frame.index + 1.0F, 1}}};
  }
};

class CountingSource final : public vision::FrameSource {
 public:
  CountingSource(int frames, bool live) : m_frames(frames), m_live(live) {}
  vision::Expected<std::optional<vision::Frame>> next() override {
    if (m_index >= m_frames) return std::nullopt;
    return vision::Frame{m_index++, {}, cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(0))};
  }
  bool live() const override { return m_live; }
  std::string describe() const override { return "counting"; }

 private:
  int m_frames;
  bool m_live;
  std::int64_t m_index = 0;
};

}  // namespace

TEST(EdgeRunner, FilesNeverDropFramesAndMaxFramesStops) {
  CountingSource source(30, false);
  SlowProcessor processor;
  vision::EdgeOptions options;
  options.max_frames = 10;
  auto report = vision::run_edge(source, processor, nullptr, options);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->frames, 10);
  EXPECT_EQ(report->dropped, 0);
  EXPECT_EQ(report->detections, 20);
  EXPECT_EQ(report->detections_per_class.at("thing"), 10);
  EXPECT_GE(report->latency_p50_ms, 19.0);
}

TEST(EdgeRunner, LiveSourcesDropWhatDetectionCannotKeepUpWith) {
  CountingSource source(200, true);  // produces instantly, detection takes 20 ms
  SlowProcessor processor;
  auto report = vision::run_edge(source, processor, nullptr, {});
  ASSERT_TRUE(report);
  EXPECT_GT(report->dropped, 0);
  EXPECT_EQ(report->frames + report->dropped, 200);
}

TEST(EdgeRunner, FpsLimitPacesCapture) {
  CountingSource source(6, false);
  SlowProcessor processor;
  vision::EdgeOptions options;
  options.fps_limit = 20;  // 6 frames: at least 5 periods of 50 ms
  auto report = vision::run_edge(source, processor, nullptr, options);
  ASSERT_TRUE(report);
  EXPECT_GE(report->elapsed_sec, 0.24);
}

namespace {

class CountingProcessor final : public vision::FrameProcessor {
 public:
  vision::Expected<std::vector<vision::Detection>> process(const vision::Frame&) override { return std::vector<vision::Detection>{}; }
};

}  // namespace

TEST(FrameSource, HttpStreamThatEndsIsReopenedWithBackoff) {
  // A real HTTP server on loopback serves a short MJPEG clip; each time the stream ends the
  // live source reconnects and reads it again, until max_frames.
  TempDir dir;
  const fs::path video = dir / "clip.avi";
  {
    cv::VideoWriter writer(video.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(64, 48));
    ASSERT_TRUE(writer.isOpened());
    for (int i = 0; i < 5; ++i) writer.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar::all(i * 40)));
  }
  const std::string clip = vision::test::read_text(video);
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
  CountingProcessor processor;
  vision::EdgeOptions options;
  options.max_frames = 12;
  options.queue_size = 64;  // keep every frame: this test is about reconnecting, not dropping
  auto report = vision::run_edge(**source, processor, nullptr, options);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->frames + report->dropped, 12);
  EXPECT_GE((*source)->reconnects(), 2);
  EXPECT_GE(requests.load(), 3);
}
