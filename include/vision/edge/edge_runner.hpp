// The edge loop: frames from a FrameSource are detected by a FrameProcessor (the local engine,
// a remote server in stream mode, a vision LLM in llm mode) and leave as annotated images and
// StatsEvents. Capture, detection and output are three stages on their own threads joined by
// bounded queues, so a slow disk or network never stalls capture; frames are dropped (and
// counted) only when a live source outruns detection, and skipped (and counted) when the
// processor declines them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vision/core/contracts.hpp"
#include "vision/core/error.hpp"
#include "vision/video/frame_source.hpp"

namespace vision {

class StatsSender;

// What a processor found in one frame: its boxes, or, from a server that answers with counts
// only (the Python original's remote), the objects per class without boxes.
struct FrameResult {
  std::vector<Detection> detections;
  std::optional<std::map<std::string, std::int64_t>> counts_only;  // set: no boxes came, only these

  // counts_only, or the detections counted per class.
  std::map<std::string, std::int64_t> counts() const;
};

class FrameProcessor {
 public:
  virtual ~FrameProcessor() = default;
  // False lets the frame pass undetected, counted as skipped: a processor with a request
  // budget (the LLM's qps_limit) declines frames while it has none, so a live source never waits.
  virtual bool accepts(const Frame& /*frame*/) noexcept { return true; }
  virtual Expected<FrameResult> process(const Frame& frame) = 0;
};

struct EdgeOptions {
  std::string source_id = "edge-001";
  double fps_limit = 0;          // frames per second at most; 0 = as fast as possible
  std::int64_t max_frames = 0;   // 0 = until the source ends
  bool save_annotated = false;
  std::filesystem::path outputs_dir;  // outputs/<run_id>
  int jpeg_quality = 80;
  std::size_t queue_size = 4;
  bool image_folder = false;     // names annotated files after the source file
};

struct EdgeReport {
  std::int64_t frames = 0;           // detected
  std::int64_t dropped = 0;          // lost because a live source outran detection
  std::int64_t skipped = 0;          // declined by the processor (FrameProcessor::accepts)
  std::int64_t failed_frames = 0;    // detection errors (the run goes on)
  std::int64_t annotated_saved = 0;
  std::int64_t frames_without_boxes = 0;  // answered with counts only (FrameResult::counts_only)
  std::int64_t detections = 0;
  std::map<std::string, std::int64_t> detections_per_class;
  double elapsed_sec = 0;
  double fps = 0;
  double latency_p50_ms = 0, latency_p95_ms = 0, latency_max_ms = 0;
  bool interrupted = false;
};

// Runs until the source ends, max_frames, or an interrupt. `sender` may be null. A frame the
// processor fails on (an error or an exception) is counted in failed_frames and the run goes on;
// a failing source ends the run with its error. Nothing thrown below escapes.
Expected<EdgeReport> run_edge(FrameSource& source, FrameProcessor& processor, StatsSender* sender,
                              const EdgeOptions& options);

nlohmann::json to_json(const EdgeReport& report);

// The annotated file name: "<stem>_annotated.jpg" under the source's sub-folder for image
// folders, "<frame-number>.jpg" (six digits) for cameras, videos and streams.
std::filesystem::path annotated_name(const Frame& frame, bool image_folder);

}  // namespace vision
