// The route table: every endpoint of a server is one `add_route` line, and `dispatch` is the
// single place a request meets a handler — with no socket, so route tests call it directly.
// Every handler runs inside a catch-all: a VisionError becomes its mapped status, anything
// else a 500 {"ok":false,"error":"internal_error"}.
#pragma once

#include <string>
#include <vector>

#include "vision/net/http_types.hpp"

namespace vision::net {

struct HttpRouterOptions {
  // Origins whose pages may call these routes: preflights are answered and responses to them
  // carry Access-Control-Allow-* headers. Empty: no CORS at all; "*": any origin.
  std::vector<std::string> cors_origins;
  // Answer only requests whose Host names a loopback address (localhost, 127.x, [::1]): a
  // server bound to loopback is then out of reach of DNS rebinding from a browser.
  bool loopback_host_only = false;
  // Prefix of the log events of this router, e.g. "statistics.api".
  std::string log_name = "net.http";
};

class HttpRouter {
 public:
  explicit HttpRouter(HttpRouterOptions options = {});

  // `pattern` is an exact path ("/api/v1/push") whose segments may be "{name}" captures
  // ("/v2/models/{name}/infer"), delivered in HttpRequest::path_params. `method` is upper case;
  // GET routes also answer HEAD.
  void add_route(std::string method, std::string pattern, HttpHandler handler);

  // Finds the route and runs it guarded: 404 for unknown paths, 405 (with Allow) for a known
  // path with another method, 500 for an escaping exception.
  HttpResponse dispatch(const HttpRequest& request) const;

  // "GET /health", … in registration order (for docs and tests).
  std::vector<std::string> routes() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    HttpHandler handler;
  };
  static bool match(const Route& route, const std::string& path,
                    std::map<std::string, std::string>& params);
  void add_cors_headers(const HttpRequest& request, HttpResponse& response) const;

  HttpRouterOptions m_options;
  std::vector<Route> m_routes;
};

// Runs `handler` and turns any exception into a JSON error response.
HttpResponse call_guarded(const HttpHandler& handler, const HttpRequest& request,
                          const std::string& log_name = "net.http");

}  // namespace vision::net
