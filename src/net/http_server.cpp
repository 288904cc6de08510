// The one file (with http_client.cpp) that includes cpp-httplib on the server side.
#include "vision/net/http_server.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "vision/core/log.hpp"

namespace vision::net {

namespace {

using Clock = std::chrono::steady_clock;

// "address:port" of a socket's peer, or empty when it has none (a listening socket).
std::string peer_of(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return {};
  char host[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    port = ntohs(v6->sin6_port);
  } else {
    return {};
  }
  return std::string(host) + ":" + std::to_string(port);
}

int local_port_of(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return -1;
  if (address.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  if (address.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  return -1;
}

}  // namespace

// Watches the server's open connections (cpp-httplib hands no socket to its callers, so they
// are found among the process's descriptors by their local port) and cuts those whose client
// overruns the request deadline or holds more connections than its share.
class ConnectionGuard {
 public:
  ConnectionGuard(int port, const HttpServerOptions& options)
      : m_port(port),
        m_deadline(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.request_deadline_sec))),
        m_per_client(options.max_connections_per_client > 0 ? options.max_connections_per_client
                                                             : std::max(8, options.threads / 2)),
        m_total(options.max_connections > 0 ? options.max_connections : 4 * std::max(1, options.threads)),
        m_log_name(options.log_name),
        m_thread([this] { run(); }) {}

  ~ConnectionGuard() {
    {
      std::lock_guard lock(m_mutex);
      m_stopping = true;
    }
    m_wake.notify_all();
    m_thread.join();
  }

  // A whole request arrived from `peer` ("address:port"): its deadline stops until the
  // response is out, then starts again for the next request on the connection.
  void request_read(const std::string& peer, Clock::duration busy_for) {
    std::lock_guard lock(m_mutex);
    if (auto it = m_by_peer.find(peer); it != m_by_peer.end()) m_connections[it->second].deadline = Clock::now() + busy_for + m_deadline;
  }

 private:
  struct Connection {
    std::string peer;
    std::string address;
    Clock::time_point seen;
    Clock::time_point deadline;
  };

  void run() {
    std::unique_lock lock(m_mutex);
    while (!m_wake.wait_for(lock, std::chrono::milliseconds(100), [this] { return m_stopping; })) {
      // The walk over /proc makes a few system calls per descriptor: done without the lock
      // that every request takes in request_read.
      lock.unlock();
      auto open = open_connections();
      lock.lock();
      if (!m_stopping) apply(std::move(open));
    }
  }

  // The server's accepted sockets (descriptor, peer) among the process's descriptors.
  std::vector<std::pair<int, std::string>> open_connections() const {
    std::vector<std::pair<int, std::string>> open;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
      int fd = -1;
      const auto name = entry.path().filename().string();
      if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc()) continue;
      struct stat info {};
      if (fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode) || local_port_of(fd) != m_port) continue;
      std::string peer = peer_of(fd);
      if (!peer.empty()) open.emplace_back(fd, std::move(peer));  // empty: the listening socket
    }
    return open;
  }

  void apply(std::vector<std::pair<int, std::string>> open) {
    const auto now = Clock::now();
    std::map<int, Connection> seen;
    for (auto& [fd, peer] : open) {
      const auto known = m_connections.find(fd);
      if (known != m_connections.end() && known->second.peer == peer) {
        seen[fd] = known->second;
      } else {
        const std::string address = peer.substr(0, peer.rfind(':'));
        seen[fd] = {std::move(peer), address, now, now + m_deadline};
      }
    }
    m_connections = std::move(seen);
    m_by_peer.clear();
    std::map<std::string, std::vector<int>> by_address;
    std::vector<int> all;
    for (const auto& [fd, c] : m_connections) {
      m_by_peer[c.peer] = fd;
      by_address[c.address].push_back(fd);
      all.push_back(fd);
    }
    const auto oldest_first = [&](int a, int b) { return m_connections[a].seen < m_connections[b].seen; };
    std::vector<int> cut;
    for (auto& [address, fds] : by_address) {
      if (fds.size() <= static_cast<size_t>(m_per_client)) continue;
      std::ranges::sort(fds, oldest_first);
      cut.insert(cut.end(), fds.begin() + m_per_client, fds.end());
      log::warn(m_log_name + ".client_limit", address + " holds " + std::to_string(fds.size()) + " connections; closing all but " +
                                                  std::to_string(m_per_client));
    }
    if (all.size() > static_cast<size_t>(m_total)) {
      std::ranges::sort(all, oldest_first);
      cut.insert(cut.end(), all.begin() + m_total, all.end());
      log::warn(m_log_name + ".connection_limit", std::to_string(all.size()) + " open connections; closing all but " +
                                                      std::to_string(m_total));
    }
    for (const auto& [fd, c] : m_connections) {
      if (now > c.deadline) {
        cut.push_back(fd);
        log::warn(m_log_name + ".request_deadline", c.peer + " sent no whole request in time; closing its connection");
      }
    }
    for (int fd : cut) {
      // The descriptor may have been closed and reused since the walk: cut only the same peer.
      if (peer_of(fd) == m_connections[fd].peer) shutdown(fd, SHUT_RDWR);
    }
  }

  const int m_port;
  const Clock::duration m_deadline;
  const int m_per_client;
  const int m_total;
  const std::string m_log_name;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stopping = false;
  std::map<int, Connection> m_connections;  // by descriptor
  std::map<std::string, int> m_by_peer;
  std::thread m_thread;  // last: starts once the rest is ready
};

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpRouter router;
  httplib::Server server;
  std::thread thread;
  std::mutex mutex;
  std::unique_ptr<ConnectionGuard> guard;
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
  auto handle = [&impl, router, thread_name](const httplib::Request& req, httplib::Response& res) {
    thread_local bool named = false;
    if (!named) {
      pthread_setname_np(pthread_self(), thread_name.c_str());
      named = true;
    }
    // The handler's own time (an inference, a query) never counts against the client.
    const std::string peer = req.remote_addr + ":" + std::to_string(req.remote_port);
    impl.guard->request_read(peer, std::chrono::hours(1));
    write_response(router->dispatch(to_request(req)), res);
    impl.guard->request_read(peer, std::chrono::seconds(impl.options.write_timeout_sec));
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
  impl.guard = std::make_unique<ConnectionGuard>(port, options);
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
  m_impl->guard.reset();
  m_impl->started = false;
}

bool HttpServer::running() const {
  return m_impl->server.is_running();
}

}  // namespace vision::net
