// `vision predict`'s library: images, a lone file and video frames through a real ONNX Runtime
// session over a constant model, in batches; names, totals, annotated copies, and errors
// (missing or unreadable sources, a failing write, an exception from the callback) returned,
// never thrown.
#include <gtest/gtest.h>

#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "helpers/onnx_builder.hpp"
#include "helpers/test_support.hpp"
#include "vision/predict/predict.hpp"

namespace fs = std::filesystem;
using vision::test::TempDir;

namespace {

// Whatever the image, two boxes: "cat" 0.9 and "dog" 0.6 (see test_detector.cpp).
fs::path write_model(const TempDir& dir) {
  vision::test::ConstantYoloModel m;
  m.channels = 6;
  m.anchors = 3;
  m.output = {32, 33, 10, 40, 40, 30, 20, 20, 8, 10, 10, 8, 0.9F, 0.8F, 0.2F, 0.1F, 0.05F, 0.6F};
  m.metadata = {{"names", "{0: 'cat', 1: 'dog'}"}, {"stride", "32"}, {"task", "detect"}};
  vision::test::write_constant_yolo_model(dir / "m.onnx", m);
  return dir / "m.onnx";
}

void write_image(const fs::path& file) {
  fs::create_directories(file.parent_path());
  ASSERT_TRUE(cv::imwrite(file.string(), cv::Mat(48, 64, CV_8UC3, cv::Scalar::all(90))));
}

vision::PredictOptions options_for(const fs::path& model, const fs::path& source) {
  vision::PredictOptions options;
  options.source = source;
  options.detector.model_path = model;
  options.detector.threads = 1;
  return options;
}

struct Seen {
  std::string name;
  std::string file;
  std::int64_t index = 0;
  std::size_t detections = 0;
};

struct PredictRun {
  vision::Expected<vision::PredictReport> report;
  std::vector<Seen> seen;  // what the callback was handed, in order
};

PredictRun predict_all(const vision::PredictOptions& options) {
  PredictRun result;
  result.report = vision::run_predict(options, [&](const vision::PredictedImage& image) {
    result.seen.push_back({image.name, image.frame.file.string(), image.frame.index, image.result.detections.size()});
  });
  return result;
}

}  // namespace

TEST(Predict, AFolderIsReadInOrderInBatchesAndUnreadableImagesAreCounted) {
  TempDir dir;
  const fs::path model = write_model(dir);
  for (const char* name : {"b.jpg", "a.jpg", "sub/c.png", "sub/d.jpg", "e.jpg"}) write_image(dir / "images" / name);
  vision::test::write_text(dir / "images" / "broken.jpg", "nope");
  auto options = options_for(model, dir / "images");
  options.batch = 2;
  options.save_dir = dir / "out";
  const auto [report, seen] = predict_all(options);
  ASSERT_TRUE(report) << report.error().message;
  std::vector<std::string> names;
  for (const auto& s : seen) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a.jpg", "b.jpg", "e.jpg", "sub/c.png", "sub/d.jpg"}));
  EXPECT_EQ(seen[3].file, (dir / "images" / "sub/c.png").string());
  EXPECT_EQ(report->images, 5);
  EXPECT_EQ(report->failures, 1);
  EXPECT_EQ(report->detections, 10);
  EXPECT_EQ(report->detections_per_class, (std::map<std::string, std::int64_t>{{"cat", 5}, {"dog", 5}}));
  EXPECT_EQ(report->model_format, "yolov8");
  EXPECT_EQ(report->provider, "CPU");
  EXPECT_GT(report->latency_p95_ms, 0.0);
  // Annotated copies keep the path under the source folder.
  for (const char* name : {"a.jpg", "sub/c.png"}) {
    EXPECT_EQ(cv::imread((dir / "out" / name).string()).cols, 64) << name;
  }
  const auto json = vision::to_json(*report);
  EXPECT_EQ(json["images"], 5);
  EXPECT_EQ(json["failures"], 1);
  EXPECT_EQ(json["detections_per_class"]["cat"], 5);
  EXPECT_TRUE(json["latency_ms"].contains("p50"));
}

TEST(Predict, ALoneImageIsNamedAfterItsFile) {
  TempDir dir;
  const fs::path model = write_model(dir);
  write_image(dir / "photos" / "one.jpg");
  const auto [report, seen] = predict_all(options_for(model, dir / "photos" / "one.jpg"));
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].name, "one.jpg");
  EXPECT_EQ(seen[0].file, (dir / "photos" / "one.jpg").string());
  EXPECT_EQ(seen[0].detections, 2U);
}

TEST(Predict, VideoFramesAreNumberedAndSavedAsJpegs) {
  TempDir dir;
  const fs::path model = write_model(dir);
  {
    cv::VideoWriter writer((dir / "clip.avi").string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, cv::Size(64, 48));
    ASSERT_TRUE(writer.isOpened());
    for (int i = 0; i < 5; ++i) writer.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar::all(i * 40)));
  }
  auto options = options_for(model, dir / "clip.avi");
  options.batch = 3;
  options.save_dir = dir / "out";
  const auto [report, seen] = predict_all(options);
  ASSERT_TRUE(report) << report.error().message;
  ASSERT_EQ(seen.size(), 5U);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].index, static_cast<std::int64_t>(i));
    EXPECT_TRUE(seen[i].file.empty());
  }
  EXPECT_EQ(seen[4].name, "000004");
  EXPECT_TRUE(fs::exists(dir / "out" / "000004.jpg"));
  EXPECT_EQ(report->images, 5);
}

TEST(Predict, BadSourcesAreErrorsNamingTheFlag) {
  TempDir dir;
  const fs::path model = write_model(dir);
  fs::create_directories(dir / "empty");
  vision::test::write_text(dir / "notes.mp4", "not a video");
  struct Case {
    fs::path source;
    vision::ErrorCode code;
    std::string message;
  };
  for (const auto& c : {Case{dir / "missing", vision::ErrorCode::not_found, "--source: not found: "},
                        Case{dir / "empty", vision::ErrorCode::not_found, "--source: no images in "},
                        Case{dir / "notes.mp4", vision::ErrorCode::invalid_data, "--source: cannot open "}}) {
    auto report = vision::run_predict(options_for(model, c.source), nullptr);
    ASSERT_FALSE(report) << c.source;
    EXPECT_EQ(report.error().code, c.code) << report.error().message;
    EXPECT_TRUE(report.error().message.starts_with(c.message)) << report.error().message;
  }
  write_image(dir / "a.jpg");
  auto no_model = vision::run_predict(options_for(dir / "none.onnx", dir / "a.jpg"), nullptr);
  EXPECT_FALSE(no_model);
}

TEST(Predict, AFailedWriteEndsTheRunWithAnIoError) {
  TempDir dir;
  const fs::path model = write_model(dir);
  write_image(dir / "images" / "a.jpg");
  vision::test::write_text(dir / "out", "a file where the output folder should be");
  auto options = options_for(model, dir / "images");
  options.save_dir = dir / "out";
  auto report = vision::run_predict(options, nullptr);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, vision::ErrorCode::io);
  EXPECT_NE(report.error().message.find((dir / "out" / "a.jpg").string()), std::string::npos) << report.error().message;
}

TEST(Predict, AnExceptionBelowTheFacadeComesBackAsAnError) {
  TempDir dir;
  const fs::path model = write_model(dir);
  write_image(dir / "a.jpg");
  auto report = vision::run_predict(options_for(model, dir / "a.jpg"),
                                    [](const vision::PredictedImage&) { throw std::runtime_error("printer on fire"); });
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, vision::ErrorCode::runtime);
  EXPECT_NE(report.error().message.find("printer on fire"), std::string::npos) << report.error().message;
}
