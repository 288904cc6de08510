// The edge runner: its three stages (capture, detection, output) on sources that are files
// or live, frame pacing, dropped and skipped frames, annotated file names, and failures that are
// counted or end the run without escaping as exceptions.
#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "helpers/test_support.hpp"
#include "vision/edge/edge_runner.hpp"
#include "vision/stats_client/http_stats_transport.hpp"
#include "vision/stats_client/stats_sender.hpp"

namespace fs = std::filesystem;
using vision::test::TempDir;

TEST(AnnotatedName, FollowsTheSourceKind) {
  vision::Frame folder{.index = 3, .relative = "cam/a.png"};
  EXPECT_EQ(vision::annotated_name(folder, true), fs::path("cam/a_annotated.jpg"));
  vision::Frame video{.index = 42};
  EXPECT_EQ(vision::annotated_name(video, false), fs::path("000042.jpg"));
}

namespace {

// Detects nothing, slowly: lets the test see the pipeline drop frames of a live source.
class SlowProcessor final : public vision::FrameProcessor {
 public:
  vision::Expected<vision::FrameResult> process(const vision::Frame& frame) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return vision::FrameResult{{{0, "thing", 0.5F, {0, 0, 1, 1}}, {1, "other", 0.5F, {0, 0, frame.index + 1.0F, 1}}}};
  }
};

// Black square frames, `side` pixels wide.
class CountingSource final : public vision::FrameSource {
 public:
  CountingSource(int frames, bool live, int side = 8) : m_frames(frames), m_live(live), m_side(side) {}
  vision::Expected<std::optional<vision::Frame>> next() override {
    if (m_index >= m_frames) return std::nullopt;
    return vision::Frame{.index = m_index++, .image = cv::Mat(m_side, m_side, CV_8UC3, cv::Scalar::all(0))};
  }
  bool live() const override { return m_live; }
  std::string describe() const override { return "counting"; }

 private:
  int m_frames;
  bool m_live;
  int m_side;
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

// Throws on every frame but the first, as a library that fails deep inside would.
class ThrowingProcessor final : public vision::FrameProcessor {
 public:
  vision::Expected<vision::FrameResult> process(const vision::Frame& frame) override {
    if (frame.index > 0) throw std::runtime_error("decoder exploded");
    return vision::FrameResult{};
  }
};

// A source whose capture library throws after three frames.
class ThrowingSource final : public vision::FrameSource {
 public:
  vision::Expected<std::optional<vision::Frame>> next() override {
    if (m_index == 3) throw std::runtime_error("capture device vanished");
    return vision::Frame{.index = m_index++, .image = cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(0))};
  }
  bool live() const override { return false; }
  std::string describe() const override { return "throwing"; }

 private:
  std::int64_t m_index = 0;
};

}  // namespace

namespace {

// Declines odd frames, as a processor out of its request budget does.
class EvenFramesProcessor final : public vision::FrameProcessor {
 public:
  bool accepts(const vision::Frame& frame) noexcept override { return frame.index % 2 == 0; }
  vision::Expected<vision::FrameResult> process(const vision::Frame& frame) override {
    EXPECT_EQ(frame.index % 2, 0);
    return vision::FrameResult{{{0, "thing", 0.5F, {0, 0, 1, 1}}}};
  }
};

}  // namespace

TEST(EdgeRunner, FramesTheProcessorDeclinesAreSkippedAndCounted) {
  CountingSource source(7, false);
  EvenFramesProcessor processor;
  auto report = vision::run_edge(source, processor, nullptr, {});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->frames, 4);
  EXPECT_EQ(report->skipped, 3);
  EXPECT_EQ(report->detections, 4);
  EXPECT_EQ(vision::to_json(*report)["skipped_frames"], 3);
}

TEST(EdgeRunner, AProcessorThatThrowsFailsThatFrameOnly) {
  CountingSource source(5, false);
  ThrowingProcessor processor;
  auto report = vision::run_edge(source, processor, nullptr, {});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->frames, 1);
  EXPECT_EQ(report->failed_frames, 4);
}

TEST(EdgeRunner, ASourceThatThrowsEndsTheRunWithAnError) {
  ThrowingSource source;
  SlowProcessor processor;
  auto report = vision::run_edge(source, processor, nullptr, {});
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, vision::ErrorCode::runtime);
  EXPECT_NE(report.error().message.find("capture device vanished"), std::string::npos) << report.error().message;
  EXPECT_NE(report.error().message.find("throwing"), std::string::npos) << report.error().message;
}

TEST(EdgeRunner, AnnotatedFramesAreWrittenWhenAsked) {
  TempDir dir;
  CountingSource source(3, false);
  SlowProcessor processor;
  vision::EdgeOptions options;
  options.save_annotated = true;
  options.outputs_dir = dir.path();
  auto report = vision::run_edge(source, processor, nullptr, options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->annotated_saved, 3);
  for (const char* name : {"000000.jpg", "000001.jpg", "000002.jpg"}) {
    EXPECT_FALSE(cv::imread((dir / name).string()).empty()) << name;
  }
}

TEST(EdgeRunner, AnUnwritableOutputFolderIsLoggedAndTheRunGoesOn) {
  TempDir dir;
  vision::test::write_text(dir / "file", "a file where a folder should be");
  CountingSource source(2, false);
  SlowProcessor processor;
  vision::EdgeOptions options;
  options.save_annotated = true;
  options.outputs_dir = dir / "file";
  auto report = vision::run_edge(source, processor, nullptr, options);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->frames, 2);
  EXPECT_EQ(report->annotated_saved, 0);
}

namespace {

// Answers every frame with counts and no boxes, as the Python original's server does.
class CountsOnlyProcessor final : public vision::FrameProcessor {
 public:
  vision::Expected<vision::FrameResult> process(const vision::Frame&) override {
    return vision::FrameResult{{}, std::map<std::string, std::int64_t>{{"circle", 2}, {"square", 1}}};
  }
};

}  // namespace

TEST(EdgeRunner, CountsWithoutBoxesMakeTheStatsAndANoteOnTheAnnotatedImage) {
  TempDir dir;
  CountingSource source(3, false, 320);
  CountsOnlyProcessor processor;
  vision::StatsSender sender({.endpoint = "", .jsonl_path = dir / "stats.jsonl"}, vision::make_http_stats_transport("", 1.0));
  ASSERT_TRUE(sender.start());
  vision::EdgeOptions options;
  options.save_annotated = true;
  options.outputs_dir = dir / "out";
  auto report = vision::run_edge(source, processor, &sender, options);
  sender.stop();
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->frames, 3);
  EXPECT_EQ(report->frames_without_boxes, 3);
  EXPECT_EQ(report->detections, 9);
  EXPECT_EQ(report->detections_per_class, (std::map<std::string, std::int64_t>{{"circle", 6}, {"square", 3}}));
  EXPECT_EQ(vision::to_json(*report)["frames_without_boxes"], 3);

  std::istringstream lines(vision::test::read_text(dir / "stats.jsonl"));
  int events = 0;
  for (std::string line; std::getline(lines, line); ++events) {
    const auto event = nlohmann::json::parse(line);
    EXPECT_EQ(event["total_detections"], 3) << line;
    EXPECT_EQ(event["counts_by_class"], (nlohmann::json{{"circle", 2}, {"square", 1}})) << line;
  }
  EXPECT_EQ(events, 3);

  // The note is white text on a band at the top; below it the black frame has no box drawn.
  const cv::Mat annotated = cv::imread((dir / "out/000000.jpg").string(), cv::IMREAD_GRAYSCALE);
  ASSERT_FALSE(annotated.empty());
  double band_max = 0, rest_max = 0;
  cv::minMaxLoc(annotated.rowRange(0, 20), nullptr, &band_max);
  cv::minMaxLoc(annotated.rowRange(40, annotated.rows), nullptr, &rest_max);
  EXPECT_GT(band_max, 200);
  EXPECT_LT(rest_max, 40);
}
