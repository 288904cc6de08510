// Deploy throughput, each figure against a baseline measured in the same run:
//   edge:   `deploy edge` local on a 640×480 video (capture, detection and output threads)
//           vs. the engine's bare predict loop over the same frames already in memory;
//   remote: frames/s through `deploy remote` (HTTP + JPEG decode + worker pool) with 4
//           concurrent clients vs. 1 client.
//   bench_deploy [MODEL.onnx] [--frames N] [--requests N]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "vision/core/base64.hpp"
#include "vision/data/synthetic_shapes.hpp"
#include "vision/edge/edge_runner.hpp"
#include "vision/edge/local_processor.hpp"
#include "vision/net/http_client.hpp"
#include "vision/remote/inference_server.hpp"
#include "vision/stats_client/stats_sender.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double remote_fps(int port, const std::string& body, int clients, int requests_per_client) {
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      vision::net::HttpClient client({"http://127.0.0.1:" + std::to_string(port), 30.0, ""});
      for (int i = 0; i < requests_per_client; ++i) {
        auto response = client.post_json("/api/v1/frame", body);
        if (!response || response->status != 200) std::fprintf(stderr, "request failed\n");
      }
    });
  }
  for (auto& t : threads) t.join();
  return clients * requests_per_client / seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = std::string(VISION_SOURCE_DIR) + "/../shared/fixtures/ultralytics-yolov8n-shapes-320.onnx";
  int frames = 120, requests = 40;
  CLI::App app{"Deploy throughput: edge against the bare predict loop, remote with 4 clients against 1"};
  app.add_option("model", model, "Detection ONNX model")->capture_default_str();
  // The baseline warms up on the first 5 frames.
  app.add_option("--frames", frames, "Frames of the test video")
      ->capture_default_str()
      ->check(CLI::Range(5, std::numeric_limits<int>::max()));
  app.add_option("--requests", requests, "Frames each remote client sends")->capture_default_str()->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  const fs::path dir = fs::temp_directory_path() / ("vision-bench-deploy-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path video = dir / "clip.avi";
  std::vector<cv::Mat> decoded;
  {
    cv::VideoWriter writer(video.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 30, cv::Size(640, 480));
    for (int i = 0; i < frames; ++i) {
      cv::Mat frame;
      cv::resize(vision::make_shape_sample(static_cast<std::uint64_t>(i), {480, 1, 6}).image, frame, cv::Size(640, 480));
      writer.write(frame);
    }
  }
  {
    cv::VideoCapture capture(video.string());
    cv::Mat frame;
    while (capture.read(frame)) decoded.push_back(frame.clone());
  }
  const int cores = static_cast<int>(std::thread::hardware_concurrency());

  // Edge: bare predict loop (baseline), then the edge pipeline on the video file.
  auto detector = vision::Detector::open({.model_path = model, .threads = cores, .device = "cpu"});
  if (!detector) {
    std::fprintf(stderr, "bench_deploy: %s\n", detector.error().message.c_str());
    return 1;
  }
  for (int i = 0; i < 5; ++i) (void)(*detector)->detect(decoded[static_cast<size_t>(i)]);
  auto t0 = Clock::now();
  for (const auto& frame : decoded) (void)(*detector)->detect(frame);
  const double bare_fps = static_cast<double>(decoded.size()) / seconds_since(t0);

  std::printf("model %s, %zu frames of 640x480, %d cores\n", model.c_str(), decoded.size(), cores);
  std::printf("%-52s %8.1f frames/s\n", "engine predict loop, frames in memory (baseline)", bare_fps);
  for (const bool save : {false, true}) {
    auto source = vision::open_frame_source({.kind = vision::FrameSourceKind::video, .path = video});
    vision::LocalProcessor processor(std::move(*vision::Detector::open({.model_path = model, .threads = cores, .device = "cpu"})));
    vision::StatsSender sender({"", dir / ("stats-" + std::to_string(save) + ".jsonl")}, nullptr);
    (void)sender.start();
    vision::EdgeOptions options;
    options.save_annotated = save;
    options.outputs_dir = dir / "outputs";
    auto report = vision::run_edge(**source, processor, &sender, options);
    sender.stop();
    const std::string label = std::string("deploy edge local, video file") + (save ? " + annotated JPEGs" : "");
    std::printf("%-52s %8.1f frames/s  ratio %.3f\n", label.c_str(), report->fps, report->fps / bare_fps);
  }

  // Remote: one client, then four.
  vision::InferenceServerOptions options;
  options.port = 0;
  options.detector.model_path = model;
  options.run_id = "bench";
  vision::InferenceServer server(options, nullptr);
  if (auto ok = server.start(); !ok) {
    std::fprintf(stderr, "bench_deploy: %s\n", ok.error().message.c_str());
    return 1;
  }
  std::vector<std::uint8_t> jpeg;
  cv::imencode(".jpg", decoded.front(), jpeg, {cv::IMWRITE_JPEG_QUALITY, 80});
  const std::string body = nlohmann::json{{"schema_version", 1}, {"source_id", "bench"}, {"frame_index", 0},
                                          {"frame_name", "f"}, {"image_jpeg_base64", vision::base64_encode(jpeg)}}.dump();
  (void)remote_fps(server.port(), body, 1, 5);  // warm-up
  const double one = remote_fps(server.port(), body, 1, requests);
  const double four = remote_fps(server.port(), body, 4, requests);
  std::printf("%-52s %8.1f frames/s\n", "deploy remote, 1 client (baseline)", one);
  std::printf("%-52s %8.1f frames/s  ratio %.3f\n", "deploy remote, 4 clients", four, four / one);
  server.stop();
  fs::remove_all(dir);
  return 0;
}
