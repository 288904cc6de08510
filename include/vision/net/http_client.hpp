// A small blocking HTTP client for Vision's own services (stats pushes, health checks, tests).
// One client keeps one keep-alive connection; use one per thread.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vision/core/error.hpp"
#include "vision/net/http_types.hpp"

namespace vision::net {

struct HttpClientOptions {
  std::string base_url;      // "http://127.0.0.1:7797" (https:// when built with OpenSSL)
  double timeout_sec = 5.0;  // connect, read and write each
  std::string api_key;       // sent as X-API-Key when not empty
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any status is a result; only transport failures (refused, timeout, bad URL) are errors,
  // ErrorCode::io with the URL and the reason.
  Expected<HttpResponse> get(const std::string& path_and_query);
  Expected<HttpResponse> post_json(const std::string& path, const std::string& body);
  Expected<HttpResponse> send(const std::string& method, const std::string& path,
                              const std::string& body, const std::string& content_type,
                              const std::vector<std::pair<std::string, std::string>>& headers = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// "http://host:port/path?q" → ("http://host:port", "/path?q"). Fails on anything that is not
// an absolute http(s) URL.
Expected<std::pair<std::string, std::string>> split_url(const std::string& url);

}  // namespace vision::net
