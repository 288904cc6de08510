// A seeded mutator for the parser fuzz tests: starts from valid inputs and breaks them the ways
// hostile clients and broken files do (flipped bits, cut and repeated ranges, tokens that
// overflow, nest or end a string early). Seeded, so a failing input comes back with its seed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

namespace vision::fuzz {

// Iterations of each fuzz test: VISION_FUZZ_ITERATIONS, else `fallback` (the fast set's run).
inline int iterations(int fallback) {
  const char* text = std::getenv("VISION_FUZZ_ITERATIONS");
  return text ? std::max(1, std::atoi(text)) : fallback;
}

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : m_rng(seed) {}

  // One to four mutations of one of the seeds.
  std::string next(const std::vector<std::string>& seeds) {
    std::string text = seeds[pick(seeds.size())];
    const int count = 1 + static_cast<int>(pick(4));
    for (int i = 0; i < count; ++i) mutate(text);
    return text;
  }

  std::size_t pick(std::size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(m_rng); }

 private:
  void mutate(std::string& text) {
    static const std::vector<std::string> k_tokens = {
        "-1", "0", "1e999", "-1e999", "NaN", "Infinity", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "4294967296", "2147483648", "1e-400", "\"", "\\", "\\u0000",
        "\\ud800", "{", "}", "[", "]", ":", ",", "null", "true", "{\"a\":", "[[[[[[[[", "\xff\xfe", "\xc0\xaf", "\n", "\r\n",
        " ", "0x10", "1.5", "-0", "99999999999999999999999", "{-1: 'x'}", "'", "@", "%", "\x00"};
    const std::size_t size = text.size();
    switch (pick(8)) {
      case 0:  // flip a bit
        if (size > 0) text[pick(size)] ^= static_cast<char>(1 << pick(8));
        break;
      case 1:  // a random byte
        if (size > 0) text[pick(size)] = static_cast<char>(pick(256));
        break;
      case 2:  // insert a token
        text.insert(pick(size + 1), k_tokens[pick(k_tokens.size())]);
        break;
      case 3: {  // delete a range
        if (size == 0) break;
        const std::size_t at = pick(size);
        text.erase(at, 1 + pick(std::min<std::size_t>(size - at, 32)));
        break;
      }
      case 4: {  // repeat a range many times (deep nesting, long strings)
        if (size == 0) break;
        const std::size_t at = pick(size);
        const std::string range = text.substr(at, 1 + pick(std::min<std::size_t>(size - at, 8)));
        std::string repeated;
        for (std::size_t i = 0, n = 1 + pick(2000); i < n; ++i) repeated += range;
        text.insert(at, repeated);
        break;
      }
      case 5:  // cut short
        text.resize(pick(size + 1));
        break;
      case 6: {  // replace a number-looking run with a token
        const std::size_t at = text.find_first_of("0123456789", pick(size + 1));
        if (at == std::string::npos) break;
        const std::size_t end = text.find_first_not_of("0123456789.", at);
        text.replace(at, (end == std::string::npos ? size : end) - at, k_tokens[pick(k_tokens.size())]);
        break;
      }
      default: {  // swap two bytes
        if (size < 2) break;
        std::swap(text[pick(size)], text[pick(size)]);
        break;
      }
    }
  }

  std::mt19937_64 m_rng;
};

}  // namespace vision::fuzz
