// Standard base64 (RFC 4648, with padding), for JPEG frames inside JSON bodies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vision {

// Length of base64_encode's text for `size` bytes: 4 characters for every started group of 3.
constexpr std::size_t base64_encoded_size(std::size_t size) { return (size + 2) / 3 * 4; }

std::string base64_encode(const std::uint8_t* data, std::size_t size);
inline std::string base64_encode(const std::vector<std::uint8_t>& bytes) {
  return base64_encode(bytes.data(), bytes.size());
}
// nullopt on any character outside the alphabet or a bad length; whitespace is ignored, and a
// "data:…;base64," prefix is accepted.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace vision
