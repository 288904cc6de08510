#include "vision/net/http_router.hpp"

#include <nlohmann/json.hpp>

#include "vision/core/error.hpp"
#include "vision/core/log.hpp"

namespace vision::net {

namespace {
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> segments;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    const size_t end = slash == std::string::npos ? path.size() : slash;
    segments.push_back(path.substr(start, end - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return segments;
}

bool is_capture(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}
}  // namespace

HttpResponse call_guarded(const HttpHandler& handler, const HttpRequest& request,
                          const std::string& log_name) {
  try {
    return handler(request);
  } catch (const VisionError& e) {
    if (http_status(e.error().code) >= 500) {
      log::error(log_name + ".handler.failed", e.what(),
                 {{"method", request.method}, {"path", request.path}});
    }
    return HttpResponse::from_error(e.error());
  } catch (const std::exception& e) {
    log::error(log_name + ".handler.exception", e.what(),
               {{"method", request.method}, {"path", request.path}});
  } catch (...) {
    log::error(log_name + ".handler.exception", "unknown exception",
               {{"method", request.method}, {"path", request.path}});
  }
  return HttpResponse::error(500, "internal_error");
}

HttpRouter::HttpRouter(HttpRouterOptions options) : m_options(std::move(options)) {}

void HttpRouter::add_route(std::string method, std::string pattern, HttpHandler handler) {
  Route route{std::move(method), std::move(pattern), {}, std::move(handler)};
  route.segments = split_path(route.pattern);
  m_routes.push_back(std::move(route));
}

bool HttpRouter::match(const Route& route, const std::string& path,
                       std::map<std::string, std::string>& params) {
  // Fast path for the common exact routes.
  if (route.pattern == path) return true;
  if (route.pattern.find('{') == std::string::npos) return false;
  const auto segments = split_path(path);
  if (segments.size() != route.segments.size()) return false;
  std::map<std::string, std::string> captured;
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& want = route.segments[i];
    if (is_capture(want)) {
      if (segments[i].empty()) return false;
      captured[want.substr(1, want.size() - 2)] = segments[i];
    } else if (want != segments[i]) {
      return false;
    }
  }
  params = std::move(captured);
  return true;
}

namespace {

// The host of a Host header: "127.0.0.1:7797" → "127.0.0.1", "[::1]:80" → "[::1]".
std::string_view host_of(std::string_view header) {
  if (header.starts_with('[')) return header.substr(0, header.find(']') + 1);
  return header.substr(0, header.find(':'));
}

}  // namespace

void HttpRouter::add_cors_headers(const HttpRequest& request, HttpResponse& response) const {
  if (m_options.cors_origins.empty()) return;
  const std::string origin = request.header("origin");
  const bool any = std::ranges::find(m_options.cors_origins, "*") != m_options.cors_origins.end();
  if (!any && (origin.empty() || std::ranges::find(m_options.cors_origins, origin) == m_options.cors_origins.end())) return;
  response.set_header("Access-Control-Allow-Origin", any ? "*" : origin);
  response.set_header("Access-Control-Allow-Headers", "Content-Type, X-API-Key");
  response.set_header("Access-Control-Max-Age", "600");
  if (!any) response.set_header("Vary", "Origin");
}

HttpResponse HttpRouter::dispatch(const HttpRequest& request) const {
  if (m_options.loopback_host_only) {
    const std::string host = request.header("host");
    if (!host.empty() && !is_loopback_name(host_of(host))) {
      return HttpResponse::error(403, "host_not_allowed", "this server answers only to a loopback Host");
    }
  }
  const std::string& method = request.method == "HEAD" ? std::string("GET") : request.method;
  std::string allowed;
  for (const auto& route : m_routes) {
    std::map<std::string, std::string> params;
    if (!match(route, request.path, params)) continue;
    if (route.method == method) {
      HttpResponse response;
      if (params.empty()) {
        response = call_guarded(route.handler, request, m_options.log_name);
      } else {
        HttpRequest with_params = request;
        with_params.path_params = std::move(params);
        response = call_guarded(route.handler, with_params, m_options.log_name);
      }
      add_cors_headers(request, response);
      return response;
    }
    if (!allowed.empty()) allowed += ", ";
    allowed += route.method;
  }
  if (allowed.empty()) {
    auto response = HttpResponse::error(404, "not_found", "no route for " + request.path);
    add_cors_headers(request, response);
    return response;
  }
  if (method == "OPTIONS" && !m_options.cors_origins.empty()) {
    HttpResponse response;
    response.status = 204;
    response.content_type.clear();
    add_cors_headers(request, response);
    response.set_header("Access-Control-Allow-Methods", allowed + ", OPTIONS");
    return response;
  }
  auto response = HttpResponse::error(405, "method_not_allowed",
                                      request.method + " is not allowed on " + request.path);
  response.set_header("Allow", allowed);
  add_cors_headers(request, response);
  return response;
}

std::vector<std::string> HttpRouter::routes() const {
  std::vector<std::string> out;
  for (const auto& route : m_routes) out.push_back(route.method + " " + route.pattern);
  return out;
}

}  // namespace vision::net
