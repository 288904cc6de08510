// The one place the inference server's body limit is derived from max_payload_mb.
#include "vision/remote/payload_limits.hpp"

#include <algorithm>

#include "vision/core/base64.hpp"

namespace vision {

namespace {
constexpr double k_bytes_per_mb = 1024.0 * 1024.0;
// 1 TiB: far above any frame, and low enough that the base64 arithmetic below cannot overflow.
constexpr double k_largest_image_bytes = 1024.0 * k_bytes_per_mb * 1024.0;
}  // namespace

PayloadLimits payload_limits(double max_payload_mb) {
  const auto image = static_cast<std::size_t>(std::clamp(max_payload_mb * k_bytes_per_mb, 0.0, k_largest_image_bytes));
  return {.max_image_bytes = image, .max_body_bytes = base64_encoded_size(image) + k_json_envelope_bytes};
}

}  // namespace vision
