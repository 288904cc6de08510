// The network side of the edge: StatsEvents to the statistics service, and frames to a
// remote inference server (edge mode "stream", SPEC 9 body).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "vision/edge/edge_runner.hpp"
#include "vision/edge/stats_sender.hpp"

namespace vision {

// Posts to any absolute http(s) URL with X-API-Key when `api_key` is set.
std::unique_ptr<StatsTransport> make_http_stats_transport(std::string api_key, double timeout_sec);

struct StreamOptions {
  std::string endpoint;  // ".../api/v1/frame"
  std::string api_key;   // X-API-Key
  double timeout_sec = 5.0;
  int jpeg_quality = 80;
  std::string source_id;
};

// Edge mode "stream": JPEG + base64 POST per frame; the server's detections come back.
Expected<std::unique_ptr<FrameProcessor>> make_stream_processor(const StreamOptions& options);

}  // namespace vision
