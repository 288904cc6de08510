#include "vision/edge/stats_sender.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <format>

#include <nlohmann/json.hpp>

#include "vision/core/log.hpp"

namespace vision {

std::string batch_endpoint_for(const std::string& push_endpoint) {
  std::string url = push_endpoint;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.size() >= 5 && url.compare(url.size() - 5, 5, "/push") == 0) return url + "/batch";
  return {};
}

StatsSender::StatsSender(StatsSenderOptions options, std::unique_ptr<StatsTransport> transport)
    : m_options(std::move(options)), m_transport(std::move(transport)) {
  m_batch_supported = !batch_endpoint_for(m_options.endpoint).empty();
}

StatsSender::~StatsSender() {
  stop();
  if (m_jsonl_fd >= 0) ::close(m_jsonl_fd);
}

Expected<void> StatsSender::start() {
  if (!m_options.jsonl_path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(m_options.jsonl_path.parent_path(), ec);
    m_jsonl_fd = ::open(m_options.jsonl_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (m_jsonl_fd < 0) {
      return fail(ErrorCode::io, "cannot open " + m_options.jsonl_path.string() + ": " + std::strerror(errno));
    }
  }
  m_thread = std::thread([this] { loop(); });
  return {};
}

void StatsSender::enqueue(const StatsEvent& event) {
  std::string line = to_json(event).dump();
  if (m_jsonl_fd >= 0) {
    const std::string with_newline = line + "\n";
    if (::write(m_jsonl_fd, with_newline.data(), with_newline.size()) < 0) {
      log::error("stats.sender.jsonl.failed", std::string("cannot append to stats.jsonl: ") + std::strerror(errno));
    }
  }
  ++m_queued;
  if (m_options.endpoint.empty()) return;
  {
    std::lock_guard lock(m_mutex);
    m_queue.push_back(std::move(line));
  }
  m_wake.notify_one();
}

bool StatsSender::deliver_some() {
  std::vector<std::string> batch;
  {
    std::lock_guard lock(m_mutex);
    const size_t count = std::min<size_t>(m_queue.size(), m_batch_supported ? static_cast<size_t>(m_options.batch_max) : 1);
    batch.assign(m_queue.begin(), m_queue.begin() + static_cast<std::ptrdiff_t>(count));
  }
  if (batch.empty()) return true;
  std::string url = m_options.endpoint;
  std::string body;
  if (m_batch_supported) {
    url = batch_endpoint_for(m_options.endpoint);
    body = "[";
    for (size_t i = 0; i < batch.size(); ++i) body += (i ? "," : "") + batch[i];
    body += "]";
  } else {
    body = batch.front();
  }
  auto status = m_transport->post_json(url, body);
  if (!status) return false;
  const auto drop_front = [&](size_t n) {
    std::lock_guard lock(m_mutex);
    m_queue.erase(m_queue.begin(), m_queue.begin() + static_cast<std::ptrdiff_t>(n));
  };
  if (*status >= 200 && *status < 300) {
    drop_front(batch.size());
    m_sent += static_cast<std::int64_t>(batch.size());
    return true;
  }
  if (m_batch_supported && (*status == 404 || *status == 405)) {
    log::info("stats.sender.no_batch", "the statistics service has no batch endpoint; sending events one by one");
    m_batch_supported = false;
    return true;
  }
  if (*status == 400 || *status == 413 || *status == 422) {
    if (m_batch_supported && batch.size() > 1) {
      // One bad event must not sink its neighbours: fall back to single events for this backlog.
      m_batch_supported = false;
      return true;
    }
    drop_front(batch.size());
    m_failed += static_cast<std::int64_t>(batch.size());
    log::error("stats.sender.rejected", "the statistics service rejected an event (HTTP " + std::to_string(*status) + ")",
               {{"event", batch.front()}});
    return true;
  }
  log::warn("stats.sender.retry", "the statistics service answered HTTP " + std::to_string(*status) + "; retrying");
  return false;
}

void StatsSender::loop() {
  double backoff = m_options.retry_initial_sec;
  std::chrono::steady_clock::time_point drain_deadline{};
  bool unreachable_logged = false;
  while (true) {
    {
      std::unique_lock lock(m_mutex);
      m_wake.wait(lock, [&] { return m_stopping || !m_queue.empty(); });
      if (m_queue.empty()) return;  // stopping and nothing left
      if (m_stopping && drain_deadline == std::chrono::steady_clock::time_point{}) {
        drain_deadline = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(static_cast<long>(m_options.drain_timeout_sec * 1000));
      }
    }
    if (deliver_some()) {
      backoff = m_options.retry_initial_sec;
      unreachable_logged = false;
      continue;
    }
    if (!unreachable_logged) {
      log::warn("stats.sender.unreachable", "cannot reach " + m_options.endpoint + "; events stay queued and in stats.jsonl");
      unreachable_logged = true;
    }
    std::unique_lock lock(m_mutex);
    if (m_stopping && std::chrono::steady_clock::now() >= drain_deadline) return;
    const auto wait = std::chrono::milliseconds(static_cast<long>(backoff * 1000));
    m_wake.wait_for(lock, wait, [&] { return m_stopping && drain_deadline == std::chrono::steady_clock::time_point{}; });
    backoff = std::min(backoff * 2, m_options.retry_max_sec);
  }
}

void StatsSender::stop() {
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping && !m_thread.joinable()) return;
    m_stopping = true;
    if (!m_queue.empty() && m_thread.joinable()) {
      const auto events = m_queue.size();
      log::info("stats.sender.draining", "delivering " + std::to_string(events) + (events == 1 ? " event" : " events") + " to " +
                                             m_options.endpoint + ", up to " + std::format("{:g}", m_options.drain_timeout_sec) + " s",
                {{"events", events}});
    }
  }
  m_wake.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

StatsSenderCounts StatsSender::counts() const {
  StatsSenderCounts c;
  c.queued = m_queued;
  c.sent = m_sent;
  c.failed = m_failed;
  std::lock_guard lock(m_mutex);
  c.pending = static_cast<std::int64_t>(m_queue.size());
  return c;
}

}  // namespace vision
