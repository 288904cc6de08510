#include "vision/edge/edge_runner.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "vision/core/bounded_queue.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/percentile.hpp"
#include "vision/core/progress.hpp"
#include "vision/image/draw.hpp"
#include "vision/stats_client/stats_sender.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace vision {

fs::path annotated_name(const Frame& frame, bool image_folder) {
  if (image_folder) return frame.relative.parent_path() / (frame.relative.stem().string() + "_annotated.jpg");
  return numbered_frame_name(frame.index) + ".jpg";
}

namespace {

struct Detected {
  Frame frame;
  std::vector<Detection> detections;
  double latency_ms = 0;
};

}  // namespace

Expected<EdgeReport> run_edge(FrameSource& source, FrameProcessor& processor, StatsSender* sender,
                              const EdgeOptions& options) {
  EdgeReport report;
  BoundedQueue<Frame> captured(options.queue_size);
  BoundedQueue<Detected> detected(options.queue_size * 2);
  std::atomic<std::int64_t> dropped{0};
  std::optional<Error> capture_error;
  const auto started = Clock::now();

  // Capture: paces to fps_limit; a live source never waits for detection.
  std::thread capture([&] {
    const bool live = source.live();
    const auto period = options.fps_limit > 0 ? std::chrono::duration<double>(1.0 / options.fps_limit) : std::chrono::duration<double>(0);
    std::int64_t count = 0;
    while (!interrupt::requested() && (options.max_frames == 0 || count < options.max_frames)) {
      if (period.count() > 0) {
        const auto due = started + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(count));
        if (due > Clock::now()) std::this_thread::sleep_until(due);
      }
      auto frame = source.next();
      if (!frame) {
        capture_error = frame.error();
        break;
      }
      if (!frame->has_value()) break;
      ++count;
      if (live) {
        if (captured.push_latest(std::move(**frame)) > 0) ++dropped;
      } else if (!captured.push(std::move(**frame))) {
        break;
      }
    }
    captured.close();
  });

  // Output: annotated images and stats, off the detection thread.
  std::vector<double> latencies;
  std::thread output([&] {
    const std::vector<int> jpeg = {cv::IMWRITE_JPEG_QUALITY, options.jpeg_quality};
    while (auto item = detected.pop()) {
      if (sender) sender->enqueue(make_stats_event(options.source_id, item->detections, item->latency_ms));
      if (options.save_annotated) {
        cv::Mat annotated = item->frame.image;  // the frame is ours alone now
        draw_detections(annotated, item->detections);
        const fs::path file = options.outputs_dir / annotated_name(item->frame, options.image_folder);
        std::error_code ec;
        fs::create_directories(file.parent_path(), ec);
        if (cv::imwrite(file.string(), annotated, jpeg)) {
          ++report.annotated_saved;
        } else {
          log::warn("deploy.edge.annotated.failed", "cannot write " + file.string());
        }
      }
    }
  });

  // Detection on this thread.
  Progress progress("deploy edge", options.max_frames, "frames");
  while (auto frame = captured.pop()) {
    const auto t0 = Clock::now();
    auto detections = processor.process(*frame);
    const double latency = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!detections) {
      ++report.failed_frames;
      log::warn("deploy.edge.frame.failed", detections.error().message, {{"frame", frame->index}});
      continue;
    }
    ++report.frames;
    report.detections += static_cast<std::int64_t>(detections->size());
    for (const auto& d : *detections) ++report.detections_per_class[d.class_name];
    latencies.push_back(latency);
    log::debug("deploy.edge.frame", "frame " + std::to_string(frame->index),
               {{"frame", frame->index}, {"detections", detections->size()}, {"latency_ms", latency}});
    detected.push({std::move(*frame), std::move(*detections), latency});
    progress.update(report.frames);
  }
  detected.close();
  capture.join();
  output.join();
  progress.finish();

  report.dropped = dropped;
  report.interrupted = interrupt::requested();
  report.elapsed_sec = std::chrono::duration<double>(Clock::now() - started).count();
  report.fps = report.elapsed_sec > 0 ? static_cast<double>(report.frames) / report.elapsed_sec : 0;
  report.latency_p50_ms = percentile(latencies, 0.5);
  report.latency_p95_ms = percentile(latencies, 0.95);
  report.latency_max_ms = latencies.empty() ? 0 : *std::ranges::max_element(latencies);
  if (capture_error) return std::unexpected(*capture_error);
  return report;
}

nlohmann::json to_json(const EdgeReport& r) {
  return {{"frames", r.frames},
          {"dropped_frames", r.dropped},
          {"failed_frames", r.failed_frames},
          {"annotated_saved", r.annotated_saved},
          {"detections", r.detections},
          {"detections_per_class", r.detections_per_class},
          {"elapsed_sec", r.elapsed_sec},
          {"fps", r.fps},
          {"latency_ms", {{"p50", r.latency_p50_ms}, {"p95", r.latency_p95_ms}, {"max", r.latency_max_ms}}},
          {"interrupted", r.interrupted}};
}

}  // namespace vision
