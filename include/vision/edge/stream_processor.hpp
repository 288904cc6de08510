// Edge mode "stream": the FrameProcessor that sends each frame to a remote inference server
// (SPEC 9 body) and takes its detections back.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "vision/edge/edge_runner.hpp"

namespace vision {

struct StreamOptions {
  std::string endpoint;  // ".../api/v1/frame"
  std::string api_key;   // X-API-Key
  double timeout_sec = 5.0;
  int jpeg_quality = 80;
  std::string source_id;
};

// JPEG + base64 POST per frame; the server's detections come back.
Expected<std::unique_ptr<FrameProcessor>> make_stream_processor(const StreamOptions& options);

// What a 200 reply to POST /api/v1/frame found: its `detections`, or, when it has none (the
// Python original's server answers `counts_by_class` and `total_detections` only), its counts
// without boxes. A malformed field is an error naming it, after `endpoint`.
Expected<FrameResult> frame_result_from_reply(const nlohmann::json& reply, const std::string& endpoint);

}  // namespace vision
