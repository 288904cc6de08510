// The project's own HTTP request and response: handlers, route tests and the client speak these,
// so no module outside src/net ever sees cpp-httplib.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vision/core/error.hpp"

namespace vision::net {

// The largest request body a server takes unless told otherwise; bigger ones get 413. The one
// default of HttpServerOptions::payload_max_bytes and of the statistics API's max_body_bytes.
inline constexpr std::size_t k_default_payload_max_bytes = 8u << 20;

struct HttpRequest {
  std::string method = "GET";                      // upper case
  std::string path = "/";                          // without the query string
  std::map<std::string, std::string> headers;      // names lower-cased
  std::map<std::string, std::string> query;        // first value of each query parameter
  std::map<std::string, std::string> path_params;  // "{name}" segments of the matched route
  std::string body;
  std::string remote_addr;

  // Case-insensitive header lookup; empty when absent.
  std::string header(std::string_view name) const;
  // A query parameter, or `fallback` when absent.
  std::string query_param(const std::string& name, const std::string& fallback = "") const;
  bool has_query(const std::string& name) const { return query.contains(name); }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  // `value` serialised as the body.
  static HttpResponse json(int status, const nlohmann::json& value);
  // The error body every Vision server uses: {"ok":false,"error":…[,"detail":…]}.
  static HttpResponse error(int status, std::string_view error, std::string_view detail = {});
  // A vision::Error as its mapped status; codes that mean a server fault answer
  // "internal_error" without the message, the rest name the problem
  // (invalid_data → "validation_failed" with the message as detail).
  static HttpResponse from_error(const Error& error);
  static HttpResponse text(int status, std::string body,
                           std::string content_type = "text/plain; charset=utf-8");

  void set_header(std::string name, std::string value);
  std::string header(std::string_view name) const;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// True for localhost, 127.0.0.0/8 and ::1 (bracketed or not): a name that reaches only this machine.
bool is_loopback_name(std::string_view host);

// Parses a request body as JSON no deeper than `max_depth` nested arrays and objects (checked on
// the text first, so a hostile body never reaches a recursive parser, copy or dump). Fails with
// ErrorCode::invalid_data: "body: not valid JSON" or "body: JSON nested deeper than N levels".
Expected<nlohmann::json> parse_json_body(std::string_view body, int max_depth = 32);

// Compares two secrets in time that depends only on their lengths, so a timing attacker
// cannot learn a key byte by byte.
bool constant_time_equals(std::string_view a, std::string_view b);

// Percent-encodes everything but unreserved characters, for query-string values.
std::string url_encode(std::string_view text);

}  // namespace vision::net
