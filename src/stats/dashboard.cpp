#include "vision/stats/dashboard.hpp"

namespace vision::stats {

namespace {
net::HttpResponse serve_file(const EmbeddedFile& file) {
  net::HttpResponse response;
  response.content_type = std::string(file.content_type);
  response.body = std::string(file.data);
  // Same-origin only: the page can load nothing from the network but this server.
  response.set_header(
      "Content-Security-Policy",
      "default-src 'self'; img-src 'self' data:; style-src 'self'; "
      "script-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'");
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("Cache-Control", "no-cache");
  return response;
}
}  // namespace

void add_dashboard_routes(net::HttpRouter& router) {
  for (const auto& file : dashboard_files()) {
    auto handler = [&file](const net::HttpRequest&) { return serve_file(file); };
    router.add_route("GET", std::string(file.path), handler);
    if (file.path == "/index.html") router.add_route("GET", "/", handler);
  }
}

}  // namespace vision::stats
