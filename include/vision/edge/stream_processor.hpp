// Edge mode "stream": the FrameProcessor that sends each frame to a remote inference server
// (SPEC 9 body) and takes its detections back.
#pragma once

#include <memory>
#include <string>

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

}  // namespace vision
