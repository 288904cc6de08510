// An HTTP server that serves one HttpRouter on host:port from a fixed thread pool. cpp-httplib
// stays behind this class; callers see only HttpRouter, HttpRequest and HttpResponse.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "vision/core/error.hpp"
#include "vision/net/http_router.hpp"

namespace vision::net {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port; read the chosen one with port()
  // Worker threads. A keep-alive connection holds one while it is open, so size this to the
  // number of concurrent clients you expect.
  int threads = 16;
  // Bodies above this are answered 413 from the Content-Length header, before being read.
  std::size_t payload_max_bytes = k_default_payload_max_bytes;
  int keep_alive_max_requests = 10000;
  int keep_alive_timeout_sec = 5;
  int read_timeout_sec = 5;
  int write_timeout_sec = 5;
  // A client has this long to send a whole request (headers and body) and, on a keep-alive
  // connection, to start the next one; then its connection is cut. Bounds slow-header and
  // slow-body clients, which each hold a worker thread.
  double request_deadline_sec = 30;
  // Connections one client address may hold at once; the newest beyond it are cut, so no single
  // client can take every worker (and /health stays answerable). 0 = threads / 2, at least 8.
  int max_connections_per_client = 0;
  // Open connections the server keeps at once, from every client together (those waiting for a
  // worker included); the newest beyond it are cut. 0 = 4 × threads.
  int max_connections = 0;
  std::string log_name = "net.http";  // prefix of log events, e.g. "statistics.api"
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpRouter router);
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on a background thread; fails with ErrorCode::io when the address
  // cannot be bound (e.g. the port is taken).
  Expected<void> start();
  // The bound port (after start).
  int port() const;
  const std::string& host() const;
  // Stops accepting, lets requests in flight finish and joins the workers. Idempotent.
  void stop();
  bool running() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace vision::net
