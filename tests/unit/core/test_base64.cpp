// Base64 encoding and decoding (JPEG frames in HTTP bodies): every length round-trips, a
// data: URL prefix is accepted, malformed text is refused.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "vision/core/base64.hpp"

TEST(Base64, RoundTripsEveryLengthAndRejectsGarbage) {
  for (size_t n = 0; n < 40; ++n) {
    std::vector<std::uint8_t> bytes(n);
    for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * 37 + 11);
    const std::string text = vision::base64_encode(bytes);
    EXPECT_EQ(text.size(), vision::base64_encoded_size(n));
    auto back = vision::base64_decode(text);
    ASSERT_TRUE(back) << n;
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_EQ(vision::base64_encode(std::vector<std::uint8_t>{'M', 'a', 'n'}), "TWFu");
  EXPECT_EQ(vision::base64_encode(std::vector<std::uint8_t>{'M'}), "TQ==");
  EXPECT_EQ(*vision::base64_decode("data:image/jpeg;base64,TWFu"), (std::vector<std::uint8_t>{'M', 'a', 'n'}));
  EXPECT_FALSE(vision::base64_decode("TW!u"));
  EXPECT_FALSE(vision::base64_decode("TQ=a"));
  EXPECT_FALSE(vision::base64_decode("T"));
}
