#include "vision/net/http_client.hpp"

#include <httplib.h>

#include <algorithm>
#include <cmath>

namespace vision::net {

struct HttpClient::Impl {
  HttpClientOptions options;
  std::unique_ptr<httplib::Client> client;
};

Expected<std::pair<std::string, std::string>> split_url(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    return fail(ErrorCode::config, "not an absolute URL: " + url);
  const std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return fail(ErrorCode::config, "unsupported URL scheme \"" + scheme + "\" in " + url);
  }
  const auto path_start = url.find('/', scheme_end + 3);
  if (path_start == std::string::npos) return std::pair{url, std::string("/")};
  if (path_start == scheme_end + 3) return fail(ErrorCode::config, "URL without a host: " + url);
  return std::pair{url.substr(0, path_start), url.substr(path_start)};
}

HttpClient::HttpClient(HttpClientOptions options) : m_impl(std::make_unique<Impl>()) {
  m_impl->options = std::move(options);
  m_impl->client = std::make_unique<httplib::Client>(m_impl->options.base_url);
  auto& client = *m_impl->client;
  const double timeout = std::max(0.001, m_impl->options.timeout_sec);
  const auto sec = static_cast<time_t>(std::floor(timeout));
  const auto usec = static_cast<time_t>((timeout - static_cast<double>(sec)) * 1e6);
  client.set_connection_timeout(sec, usec);
  client.set_read_timeout(sec, usec);
  client.set_write_timeout(sec, usec);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
}

HttpClient::~HttpClient() = default;

Expected<HttpResponse> HttpClient::get(const std::string& path_and_query) {
  return send("GET", path_and_query, "", "");
}

Expected<HttpResponse> HttpClient::post_json(const std::string& path, const std::string& body) {
  return send("POST", path, body, "application/json");
}

Expected<HttpResponse> HttpClient::send(
    const std::string& method, const std::string& path, const std::string& body,
    const std::string& content_type,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  auto& client = *m_impl->client;
  if (!client.is_valid()) {
    return fail(ErrorCode::config, "invalid base URL: " + m_impl->options.base_url);
  }
  httplib::Headers request_headers;
  if (!m_impl->options.api_key.empty())
    request_headers.emplace("X-API-Key", m_impl->options.api_key);
  for (const auto& [name, value] : headers) request_headers.emplace(name, value);

  httplib::Result result{nullptr, httplib::Error::Unknown};
  if (method == "GET") {
    result = client.Get(path, request_headers);
  } else if (method == "POST") {
    result = client.Post(path, request_headers, body, content_type);
  } else if (method == "PUT") {
    result = client.Put(path, request_headers, body, content_type);
  } else if (method == "DELETE") {
    result = client.Delete(path, request_headers, body, content_type);
  } else if (method == "OPTIONS") {
    result = client.Options(path, request_headers);
  } else {
    return fail(ErrorCode::usage, "unsupported HTTP method " + method);
  }
  if (!result) {
    return fail(ErrorCode::io, method + " " + m_impl->options.base_url + path + ": " +
                                   httplib::to_string(result.error()));
  }
  HttpResponse response;
  response.status = result->status;
  response.body = std::move(result->body);
  response.content_type = result->get_header_value("Content-Type");
  for (const auto& [name, value] : result->headers) response.headers.emplace_back(name, value);
  return response;
}

}  // namespace vision::net
