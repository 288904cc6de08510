// Standard base64 (RFC 4648, with padding), for JPEG frames inside JSON bodies.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vision {

std::string base64_encode(const std::uint8_t* data, std::size_t size);
inline std::string base64_encode(const std::vector<std::uint8_t>& bytes) {
  return base64_encode(bytes.data(), bytes.size());
}
// nullopt on any character outside the alphabet or a bad length; whitespace is ignored, and a
// "data:…;base64," prefix is accepted.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

}  // namespace vision
