#include "vision/core/secrets.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace vision {

namespace {

// Names of query parameters and keywords whose value is a secret (compared case-insensitively).
constexpr std::array<std::string_view, 9> k_secret_names = {"password", "passwd", "pwd", "sslpassword", "token",
                                                            "access_token", "api_key", "apikey", "secret"};

bool is_secret_name(std::string_view name) {
  std::string lower(name);
  std::ranges::transform(lower, lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::ranges::find(k_secret_names, lower) != k_secret_names.end();
}

// Replaces every `name=value` whose name is secret; values end at one of `ends` (a quoted
// value, in the keyword form, at its closing quote).
std::string redact_pairs(std::string text, std::string_view separators, std::string_view ends) {
  std::size_t at = 0;
  while ((at = text.find('=', at)) != std::string::npos) {
    std::size_t start = at;
    while (start > 0 && separators.find(text[start - 1]) == std::string_view::npos) --start;
    const std::string_view name = std::string_view(text).substr(start, at - start);
    std::size_t value = at + 1;
    std::size_t end = 0;
    if (value < text.size() && text[value] == '\'') {
      end = text.find('\'', value + 1);
      end = end == std::string::npos ? text.size() : end + 1;
    } else {
      end = text.find_first_of(ends, value);
      if (end == std::string::npos) end = text.size();
    }
    if (is_secret_name(name) && end > value) {
      text.replace(value, end - value, "***");
      end = value + 3;
    }
    at = end;
  }
  return text;
}

}  // namespace

std::string redact_url_secrets(std::string_view url) {
  std::string text(url);
  const auto scheme = text.find("://");
  if (scheme == std::string::npos) return redact_pairs(std::move(text), " \t", " \t");  // libpq keyword form
  const auto authority = scheme + 3;
  const auto path = text.find_first_of("/?#", authority);
  const auto at = text.rfind('@', path == std::string::npos ? std::string::npos : path);
  if (at != std::string::npos && at > authority) {
    const auto colon = text.find(':', authority);
    if (colon != std::string::npos && colon < at) text.replace(colon + 1, at - colon - 1, "***");
  }
  const auto query = text.find('?', authority);
  if (query == std::string::npos) return text;
  return text.substr(0, query + 1) + redact_pairs(text.substr(query + 1), "&;", "&;#");
}

std::string secret_env_name(std::string_view key) {
  std::string name = "VISION_";
  for (const char c : key) name.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return name;
}

}  // namespace vision
