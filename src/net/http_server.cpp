// The one file (with http_client.cpp) that includes cpp-httplib on the server side.
#include "vision/net/http_server.hpp"

#include <httplib.h>
#include <pthread.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <thread>

#include "vision/core/log.hpp"

namespace vision::net {

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpRouter router;
  httplib::Server server;
  std::thread thread;
  std::mutex mutex;
  int port = 0;
  bool started = false;
};

namespace {

HttpRequest to_request(const httplib::Request& in) {
  HttpRequest out;
  out.method = in.method;
  out.path = in.path;
  for (const auto& [name, value] : in.headers) {
    std::string key = name;
    std::ranges::transform(key, key.begin(), [](unsigned char c) { return std::tolower(c); });
    out.headers.emplace(std::move(key), value);
  }
  for (const auto& [name, value] : in.params) out.query.emplace(name, value);
  out.body = in.body;
  out.remote_addr = in.remote_addr;
  return out;
}

void write_response(const HttpResponse& in, httplib::Response& out) {
  out.status = in.status;
  for (const auto& [name, value] : in.headers) out.set_header(name, value);
  if (!in.content_type.empty()) {
    out.set_content(in.body, in.content_type);
  } else if (!in.body.empty()) {
    out.set_content(in.body, "application/octet-stream");
  }
}

const char* error_name_for_status(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 416:
      return "range_not_satisfiable";
    case 431:
      return "headers_too_large";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal_error" : "bad_request";
  }
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options, HttpRouter router)
    : m_impl(std::make_unique<Impl>()) {
  m_impl->options = std::move(options);
  m_impl->router = std::move(router);
}

HttpServer::~HttpServer() {
  stop();
}

Expected<void> HttpServer::start() {
  std::lock_guard lock(m_impl->mutex);
  if (m_impl->started) return {};
  auto& impl = *m_impl;
  auto& server = impl.server;
  const auto& options = impl.options;
  const size_t threads = static_cast<size_t>(std::max(1, options.threads));
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // cpp-httplib's default sets SO_REUSEPORT, which lets a second server bind the same port and
  // silently share its connections. SO_REUSEADDR alone still allows a quick restart.
  server.set_socket_options([](socket_t sock) {
    int on = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  });
  // Without TCP_NODELAY a response written in two parts waits for the delayed ACK (~40 ms).
  server.set_tcp_nodelay(true);
  server.set_payload_max_length(options.payload_max_bytes);
  server.set_keep_alive_max_count(
      static_cast<size_t>(std::max(1, options.keep_alive_max_requests)));
  server.set_keep_alive_timeout(options.keep_alive_timeout_sec);
  server.set_read_timeout(options.read_timeout_sec);
  server.set_write_timeout(options.write_timeout_sec);

  const HttpRouter* router = &impl.router;
  const std::string log_name = options.log_name;
  // Worker threads take the server's name (at most 15 characters) for top -H and gdb.
  const std::string thread_name = log_name.substr(0, 15);
  auto handle = [router, thread_name](const httplib::Request& req, httplib::Response& res) {
    thread_local bool named = false;
    if (!named) {
      pthread_setname_np(pthread_self(), thread_name.c_str());
      named = true;
    }
    write_response(router->dispatch(to_request(req)), res);
  };
  // One catch-all per method: the route table, 404 and 405 live in HttpRouter.
  server.Get(".*", handle);
  server.Post(".*", handle);
  server.Put(".*", handle);
  server.Patch(".*", handle);
  server.Delete(".*", handle);
  server.Options(".*", handle);
  // Errors that cpp-httplib produces itself (413 before reading a body, 400 on a broken
  // request line, …) get the same JSON shape as ours.
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    res.set_content(HttpResponse::error(res.status, error_name_for_status(res.status)).body,
                    "application/json");
  });
  server.set_exception_handler(
      [log_name](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        log::error(log_name + ".exception", "exception outside a handler",
                   {{"method", req.method}, {"path", req.path}});
        res.status = 500;
        res.set_content(HttpResponse::error(500, "internal_error").body, "application/json");
      });

  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
  } else if (!server.bind_to_port(options.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    return fail(ErrorCode::io, "cannot listen on " + options.host + ":" +
                                   std::to_string(options.port) +
                                   " (address in use, or not an address of this machine?)");
  }
  impl.port = port;
  impl.thread = std::thread([&server] { server.listen_after_bind(); });
  server.wait_until_ready();
  impl.started = true;
  log::debug(log_name + ".listen", "listening",
             {{"host", options.host}, {"port", port}, {"threads", threads}});
  return {};
}

int HttpServer::port() const {
  return m_impl->port;
}
const std::string& HttpServer::host() const {
  return m_impl->options.host;
}

void HttpServer::stop() {
  std::lock_guard lock(m_impl->mutex);
  if (!m_impl->started) return;
  m_impl->server.stop();
  if (m_impl->thread.joinable()) m_impl->thread.join();
  m_impl->started = false;
}

bool HttpServer::running() const {
  return m_impl->server.is_running();
}

}  // namespace vision::net
