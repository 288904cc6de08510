#include "vision/edge/edge_runner.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "vision/core/bounded_queue.hpp"
#include "vision/core/exception_error.hpp"
#include "vision/core/interrupt.hpp"
#include "vision/core/log.hpp"
#include "vision/core/percentile.hpp"
#include "vision/core/progress.hpp"
#include "vision/image/draw.hpp"
#include "vision/stats_client/stats_sender.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace vision {

std::map<std::string, std::int64_t> FrameResult::counts() const {
  return counts_only ? *counts_only : counts_by_class(detections);
}

fs::path annotated_name(const Frame& frame, bool image_folder) {
  if (image_folder) return frame.relative.parent_path() / (frame.relative.stem().string() + "_annotated.jpg");
  return numbered_frame_name(frame.index) + ".jpg";
}

namespace {

// A frame and what detection found in it, on its way to the output stage.
struct Detected {
  Frame frame;
  FrameResult result;
  double latency_ms = 0;
};

struct CaptureTally {
  std::int64_t dropped = 0;    // live frames pushed out of a full queue
  std::optional<Error> error;  // the source failed: the run ends with this error
};

// Stage 1, on its own thread: frames from the source into `captured`, paced to fps_limit,
// until the source ends, max_frames or an interrupt. A live source never waits for detection:
// when the queue is full its oldest frame is dropped.
CaptureTally capture_frames(FrameSource& source, const EdgeOptions& options, Clock::time_point started,
                            BoundedQueue<Frame>& captured) {
  CaptureTally tally;
  const bool live = source.live();
  const auto period = options.fps_limit > 0 ? std::chrono::duration<double>(1.0 / options.fps_limit) : std::chrono::duration<double>(0);
  try {
    std::int64_t count = 0;
    while (!interrupt::requested() && (options.max_frames == 0 || count < options.max_frames)) {
      if (period.count() > 0) {
        const auto due = started + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(count));
        if (due > Clock::now()) std::this_thread::sleep_until(due);
      }
      auto frame = source.next();
      if (!frame) {
        tally.error = frame.error();
        break;
      }
      if (!frame->has_value()) break;
      ++count;
      if (live) {
        if (captured.push_latest(std::move(**frame)) > 0) ++tally.dropped;
      } else if (!captured.push(std::move(**frame))) {
        break;
      }
    }
  } catch (...) {
    tally.error = error_from_current_exception("deploy.edge: reading " + source.describe());
  }
  captured.close();
  return tally;
}

struct DetectionTally {
  std::int64_t frames = 0;         // detected
  std::int64_t skipped = 0;        // the processor declined them
  std::int64_t failed_frames = 0;  // the processor failed on them
  std::int64_t frames_without_boxes = 0;
  std::int64_t detections = 0;
  std::map<std::string, std::int64_t> detections_per_class;
  std::vector<double> latencies_ms;
};

Expected<FrameResult> process_frame(FrameProcessor& processor, const Frame& frame) {
  try {
    return processor.process(frame);
  } catch (...) {
    return std::unexpected(error_from_current_exception("frame " + std::to_string(frame.index)));
  }
}

// Stage 2, on the calling thread: each captured frame through the processor, then on to
// `detected`. A frame the processor declines, or fails on (an error or an exception), is counted
// and goes no further.
DetectionTally detect_frames(FrameProcessor& processor, const EdgeOptions& options, BoundedQueue<Frame>& captured,
                             BoundedQueue<Detected>& detected) {
  DetectionTally tally;
  Progress progress("deploy edge", options.max_frames, "frames");
  while (auto frame = captured.pop()) {
    if (!processor.accepts(*frame)) {
      ++tally.skipped;
      continue;
    }
    const auto t0 = Clock::now();
    auto result = process_frame(processor, *frame);
    const double latency = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!result) {
      ++tally.failed_frames;
      log::warn("deploy.edge.frame.failed", result.error().message, {{"frame", frame->index}});
      continue;
    }
    ++tally.frames;
    if (result->counts_only) ++tally.frames_without_boxes;
    std::int64_t found = 0;
    for (const auto& [name, count] : result->counts()) {
      tally.detections_per_class[name] += count;
      found += count;
    }
    tally.detections += found;
    tally.latencies_ms.push_back(latency);
    log::debug("deploy.edge.frame", "frame " + std::to_string(frame->index),
               {{"frame", frame->index}, {"detections", found}, {"latency_ms", latency}});
    detected.push({std::move(*frame), std::move(*result), latency});
    progress.update(tally.frames);
  }
  progress.finish();
  return tally;
}

// The annotation of a frame that came without boxes: "no boxes from the server: car 2, dog 1".
std::string counts_only_note(const std::map<std::string, std::int64_t>& counts) {
  if (counts.empty()) return "no boxes from the server: nothing found";
  std::string note = "no boxes from the server";
  std::string separator = ": ";
  for (const auto& [name, count] : counts) {
    note += separator + name + " " + std::to_string(count);
    separator = ", ";
  }
  return note;
}

// Writes one annotated frame; a failure is logged and the run goes on.
bool save_annotated_frame(Detected& item, const EdgeOptions& options) {
  const fs::path file = options.outputs_dir / annotated_name(item.frame, options.image_folder);
  std::string problem = "cannot write " + file.string();
  try {
    cv::Mat& annotated = item.frame.image;  // the frame is ours alone now
    if (item.result.counts_only) {
      draw_note(annotated, counts_only_note(*item.result.counts_only));
    } else {
      draw_detections(annotated, item.result.detections);
    }
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (cv::imwrite(file.string(), annotated, {cv::IMWRITE_JPEG_QUALITY, options.jpeg_quality})) return true;
  } catch (...) {
    problem = error_from_current_exception(problem).message;
  }
  log::warn("deploy.edge.annotated.failed", problem);
  return false;
}

// Stage 3, on its own thread: a StatsEvent per frame and, when asked, the annotated image, so
// that a slow disk or network never holds detection up. Returns the annotated images written.
std::int64_t write_outputs(StatsSender* sender, const EdgeOptions& options, BoundedQueue<Detected>& detected) {
  std::int64_t saved = 0;
  while (auto item = detected.pop()) {
    if (sender) sender->enqueue(make_stats_event(options.source_id, item->result.counts(), item->latency_ms));
    if (options.save_annotated && save_annotated_frame(*item, options)) ++saved;
  }
  return saved;
}

EdgeReport make_report(const CaptureTally& capture, DetectionTally detection, std::int64_t annotated_saved,
                       Clock::time_point started) {
  EdgeReport report;
  report.frames = detection.frames;
  report.dropped = capture.dropped;
  report.skipped = detection.skipped;
  report.failed_frames = detection.failed_frames;
  report.annotated_saved = annotated_saved;
  report.frames_without_boxes = detection.frames_without_boxes;
  report.detections = detection.detections;
  report.detections_per_class = std::move(detection.detections_per_class);
  report.interrupted = interrupt::requested();
  report.elapsed_sec = std::chrono::duration<double>(Clock::now() - started).count();
  report.fps = report.elapsed_sec > 0 ? static_cast<double>(report.frames) / report.elapsed_sec : 0;
  const auto& latencies = detection.latencies_ms;
  report.latency_p50_ms = percentile(latencies, 0.5);
  report.latency_p95_ms = percentile(latencies, 0.95);
  report.latency_max_ms = latencies.empty() ? 0 : *std::ranges::max_element(latencies);
  return report;
}

Expected<EdgeReport> run_stages(FrameSource& source, FrameProcessor& processor, StatsSender* sender,
                                const EdgeOptions& options) {
  BoundedQueue<Frame> captured(options.queue_size);
  BoundedQueue<Detected> detected(options.queue_size * 2);
  const auto started = Clock::now();
  std::int64_t annotated_saved = 0;
  std::thread output([&] { annotated_saved = write_outputs(sender, options, detected); });
  CaptureTally capture;
  std::thread capturing;
  try {
    capturing = std::thread([&] { capture = capture_frames(source, options, started, captured); });
  } catch (...) {
    detected.close();
    output.join();
    throw;
  }
  DetectionTally detection = detect_frames(processor, options, captured, detected);
  detected.close();
  capturing.join();
  output.join();
  if (capture.error) return std::unexpected(*capture.error);
  return make_report(capture, std::move(detection), annotated_saved, started);
}

}  // namespace

Expected<EdgeReport> run_edge(FrameSource& source, FrameProcessor& processor, StatsSender* sender,
                              const EdgeOptions& options) {
  try {
    return run_stages(source, processor, sender, options);
  } catch (...) {
    return std::unexpected(error_from_current_exception("deploy edge"));
  }
}

nlohmann::json to_json(const EdgeReport& r) {
  return {{"frames", r.frames},
          {"dropped_frames", r.dropped},
          {"skipped_frames", r.skipped},
          {"failed_frames", r.failed_frames},
          {"annotated_saved", r.annotated_saved},
          {"frames_without_boxes", r.frames_without_boxes},
          {"detections", r.detections},
          {"detections_per_class", r.detections_per_class},
          {"elapsed_sec", r.elapsed_sec},
          {"fps", r.fps},
          {"latency_ms", {{"p50", r.latency_p50_ms}, {"p95", r.latency_p95_ms}, {"max", r.latency_max_ms}}},
          {"interrupted", r.interrupted}};
}

}  // namespace vision
