// deploy.remote.max_payload_mb as the inference server's two size limits: the decoded image (what
// the Python original limited) and the HTTP body that carries it base64-encoded inside JSON.
#pragma once

#include <cstddef>

namespace vision {

// Room in a body for everything but the base64 image. A frame request's other fields are bounded
// (source_id 128 bytes, frame_name and KServe's id 256 bytes: under 4 KiB even with every
// character JSON-escaped as \uXXXX); 64 KiB also covers KServe's input descriptors, parameters
// and a client's pretty-printing, while staying under 1 % of the default 8 MiB image limit.
inline constexpr std::size_t k_json_envelope_bytes = 64 * 1024;

struct PayloadLimits {
  std::size_t max_image_bytes = 0;  // decoded JPEG; larger get 413 from the image check
  std::size_t max_body_bytes = 0;   // whole request body; larger get 413 before it is read
};

// max_payload_mb is in MiB (1024 × 1024 bytes, rounded down to whole bytes). The body limit is the
// base64 text of an image of exactly max_image_bytes plus k_json_envelope_bytes, so a frame the
// image check accepts is never refused by the body check.
PayloadLimits payload_limits(double max_payload_mb);

}  // namespace vision
