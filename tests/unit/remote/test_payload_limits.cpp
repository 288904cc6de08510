// payload_limits: deploy.remote.max_payload_mb (MiB of decoded image) and the body limit derived
// from it (whole base64 groups plus the JSON envelope), at the boundaries of both.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>

#include "vision/core/base64.hpp"
#include "vision/remote/payload_limits.hpp"

using vision::k_json_envelope_bytes;
using vision::payload_limits;

namespace {
constexpr double k_mib = 1024.0 * 1024.0;
}  // namespace

TEST(PayloadLimits, ImageBytesInMibAndBodyInWholeBase64GroupsPlusTheEnvelope) {
  struct Case {
    double max_payload_mb;
    std::size_t image;
    std::size_t base64;
  };
  const std::vector<Case> cases = {
      {8.0, 8u << 20, 11184812},  // the default: 2796203 groups of 4
      {1.0, 1u << 20, 1398104},
      {0.01, 10485, 13980},  // 10485.76 bytes rounds down
      {1 / k_mib, 1, 4},     // one byte is one padded group
      {2 / k_mib, 2, 4},
      {3 / k_mib, 3, 4},
      {4 / k_mib, 4, 8},  // one byte past a whole group starts the next
  };
  for (const auto& c : cases) {
    const auto limits = payload_limits(c.max_payload_mb);
    EXPECT_EQ(limits.max_image_bytes, c.image) << c.max_payload_mb;
    EXPECT_EQ(limits.max_body_bytes, c.base64 + k_json_envelope_bytes) << c.max_payload_mb;
  }
}

TEST(PayloadLimits, TheLargestLegitimateFrameRequestFitsTheBody) {
  const auto limits = payload_limits(0.01);
  const std::vector<std::uint8_t> image(limits.max_image_bytes, 0xAB);
  // Every bounded field at its longest, frame_name escaped to six characters a byte.
  const nlohmann::json frame = {{"schema_version", 1},
                                {"source_id", std::string(128, 's')},
                                {"frame_index", std::numeric_limits<std::int64_t>::max()},
                                {"frame_name", std::string(256, '\x01')},
                                {"image_jpeg_base64", vision::base64_encode(image)},
                                {"return_annotated", true}};
  EXPECT_LE(frame.dump(2).size(), limits.max_body_bytes);
  const nlohmann::json kserve = {
      {"id", std::string(256, '\x01')},
      {"parameters", {{"source_id", std::string(128, 's')}}},
      {"inputs", {{{"name", "image"}, {"datatype", "BYTES"}, {"shape", {1}}, {"data", {vision::base64_encode(image)}}}}}};
  EXPECT_LE(kserve.dump(2).size(), limits.max_body_bytes);
}

TEST(PayloadLimits, AHugeSettingStopsAtOneTebibyteInsteadOfOverflowing) {
  const auto limits = payload_limits(1e30);
  EXPECT_EQ(limits.max_image_bytes, std::size_t{1} << 40);
  EXPECT_EQ(limits.max_body_bytes, vision::base64_encoded_size(std::size_t{1} << 40) + k_json_envelope_bytes);
}
