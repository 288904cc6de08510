// `vision predict`: a model on an image file, a folder of images (recursive) or a video file.
// Frames come from the video module's sources and go through the detector in batches; each
// image's detections are handed to a callback as they come (the CLI prints them), the totals
// come back in a report. Annotated copies are written when asked.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "vision/core/error.hpp"
#include "vision/infer/detector.hpp"
#include "vision/video/frame_source.hpp"

namespace vision {

struct PredictOptions {
  std::filesystem::path source;    // an image file, a folder of images or a video file
  DetectorOptions detector;        // model, thresholds, threads, device, project classes
  int batch = 4;                   // images per inference run
  std::filesystem::path save_dir;  // annotated copies go here; empty: none
};

// One image (or video frame) and its detections.
struct PredictedImage {
  const Frame& frame;  // image sources also carry `file`, the path as found
  const ImageDetections& result;
  std::string name;    // the path under the source folder, a lone file's name, or the frame number "000042"
};
using PredictCallback = std::function<void(const PredictedImage&)>;

struct PredictReport {
  std::string model_format;  // model_format_name
  std::string provider;      // "CPU" or "CUDA"
  std::int64_t images = 0;    // detected
  std::int64_t failures = 0;  // unreadable images, skipped
  std::int64_t detections = 0;
  std::map<std::string, std::int64_t> detections_per_class;
  std::int64_t dropped_unknown_class = 0;  // model classes not in the project's class map
  double latency_p50_ms = 0, latency_p95_ms = 0;
};

// Runs to the end of the source, or until interrupt::requested(). A missing source is
// ErrorCode::not_found, a video that cannot be opened ErrorCode::invalid_data; errors name
// --source. Nothing thrown below escapes.
Expected<PredictReport> run_predict(const PredictOptions& options, const PredictCallback& on_image);

// artifacts.json form of the report.
nlohmann::json to_json(const PredictReport& report);

}  // namespace vision
