#include "vision/stats_client/stats_sender.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <format>
#include <random>

#include <nlohmann/json.hpp>

#include "vision/core/exception_error.hpp"
#include "vision/core/log.hpp"
#include "vision/stats_client/stats_spool.hpp"

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
  std::random_device random;
  m_id_prefix = std::format("{:08x}{:08x}", random(), random());
  if (!m_options.spool_dir.empty() && !m_options.endpoint.empty()) {
    auto spool = StatsSpool::open({.dir = m_options.spool_dir, .max_bytes = m_options.spool_max_bytes});
    if (!spool) return std::unexpected(spool.error());
    m_spool = std::move(*spool);
  }
  if (!m_options.jsonl_path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(m_options.jsonl_path.parent_path(), ec);
    m_jsonl_fd = ::open(m_options.jsonl_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (m_jsonl_fd < 0) {
      return fail(ErrorCode::io, "cannot open " + m_options.jsonl_path.string() + ": " + std::strerror(errno));
    }
  }
  try {
    m_thread = std::thread([this] { loop(); });
  } catch (...) {
    return std::unexpected(error_from_current_exception("stats sender: cannot start its thread"));
  }
  return {};
}

void StatsSender::enqueue(const StatsEvent& event) {
  auto json = to_json(event);
  if (event.event_id.empty()) {
    std::lock_guard lock(m_mutex);
    json["event_id"] = m_id_prefix + "-" + std::to_string(m_next_id++);
  }
  // Invalid UTF-8 (a class name from a model's metadata) is replaced, not thrown: enqueue runs
  // on the edge's output thread, where a throw would end the process.
  const std::string line = json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  ++m_queued;
  if (!m_options.endpoint.empty()) {
    // The spool first: every event stats.jsonl shows is one the spool holds.
    std::lock_guard lock(m_mutex);
    if (!m_spool) {
      m_queue.push_back(line);
    } else if (auto ok = m_spool->append(line); !ok) {
      log::error("stats.sender.spool.failed", ok.error().message);
      m_queue.push_back(line);  // kept in memory at least
    }
  }
  if (m_jsonl_fd >= 0) {
    const std::string with_newline = line + "\n";
    if (::write(m_jsonl_fd, with_newline.data(), with_newline.size()) < 0) {
      log::error("stats.sender.jsonl.failed", std::string("cannot append to stats.jsonl: ") + std::strerror(errno));
    }
  }
  if (!m_options.endpoint.empty()) m_wake.notify_one();
}

std::vector<std::string> StatsSender::front(std::size_t max) {
  std::lock_guard lock(m_mutex);
  // The spool's records are older than anything kept in memory after a spool failure.
  std::vector<std::string> out = m_spool ? m_spool->peek(max) : std::vector<std::string>();
  for (std::size_t i = 0; i < m_queue.size() && out.size() < max; ++i) out.push_back(m_queue[i]);
  if (m_spool && !out.empty()) {
    // What is about to be sent is on disk first: fsync once per batch.
    if (auto ok = m_spool->sync(); !ok) log::warn("stats.sender.spool.sync", ok.error().message);
  }
  return out;
}

void StatsSender::drop_front(std::size_t count) {
  std::lock_guard lock(m_mutex);
  if (m_spool) {
    const std::size_t from_spool = std::min(count, m_spool->pending());
    if (auto ok = m_spool->acknowledge(from_spool); !ok) log::warn("stats.sender.spool.ack", ok.error().message);
    count -= from_spool;
  }
  m_queue.erase(m_queue.begin(), m_queue.begin() + static_cast<std::ptrdiff_t>(std::min(count, m_queue.size())));
}

std::size_t StatsSender::backlog() const {
  return m_queue.size() + (m_spool ? m_spool->pending() : 0);
}

StatsSender::Delivery StatsSender::deliver_some() {
  const bool batching = m_batch_supported && m_singles_left == 0;
  const std::vector<std::string> batch = front(batching ? static_cast<size_t>(m_options.batch_max) : 1);
  if (batch.empty()) return Delivery::progressed;
  std::string url = m_options.endpoint;
  std::string body;
  if (batching) {
    url = batch_endpoint_for(m_options.endpoint);
    body = "[";
    for (size_t i = 0; i < batch.size(); ++i) body += (i ? "," : "") + batch[i];
    body += "]";
  } else {
    body = batch.front();
  }
  auto status = m_transport->post_json(url, body);
  if (!status) return Delivery::unreachable;
  if (*status >= 200 && *status < 300) {
    drop_front(batch.size());
    m_sent += static_cast<std::int64_t>(batch.size());
    if (!batching && m_singles_left > 0) --m_singles_left;
    return Delivery::progressed;
  }
  if (batching && (*status == 404 || *status == 405)) {
    log::info("stats.sender.no_batch", "the statistics service has no batch endpoint; sending events one by one");
    m_batch_supported = false;
    return Delivery::progressed;
  }
  if (*status == 400 || *status == 413 || *status == 422) {
    if (batching && batch.size() > 1) {
      // One bad event must not sink its neighbours: this batch goes one by one, then batching resumes.
      m_singles_left = batch.size();
      return Delivery::progressed;
    }
    if (m_singles_left > 0) --m_singles_left;
    drop_front(batch.size());
    m_failed += static_cast<std::int64_t>(batch.size());
    log::error("stats.sender.rejected", "the statistics service rejected an event (HTTP " + std::to_string(*status) + ")",
               {{"event", batch.front()}});
    return Delivery::progressed;
  }
  log::warn("stats.sender.retry", "the statistics service answered HTTP " + std::to_string(*status) + "; retrying");
  return Delivery::retry_later;
}

void StatsSender::loop() {
  double backoff = m_options.retry_initial_sec;
  std::chrono::steady_clock::time_point drain_deadline{};
  bool unreachable_logged = false;
  while (true) {
    {
      std::unique_lock lock(m_mutex);
      m_wake.wait(lock, [&] { return m_stopping || backlog() > 0; });
      if (backlog() == 0) return;  // stopping and nothing left
      if (m_stopping && drain_deadline == std::chrono::steady_clock::time_point{}) {
        drain_deadline = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(static_cast<long>(m_options.drain_timeout_sec * 1000));
      }
    }
    const Delivery delivery = deliver_some();
    if (delivery == Delivery::progressed) {
      backoff = m_options.retry_initial_sec;
      unreachable_logged = false;
      continue;
    }
    if (!unreachable_logged) {
      log::warn("stats.sender.unreachable", "cannot reach " + m_options.endpoint + "; events stay queued and in stats.jsonl");
      unreachable_logged = true;
    }
    std::unique_lock lock(m_mutex);
    const auto now = std::chrono::steady_clock::now();
    if (m_stopping && m_spool && delivery == Delivery::unreachable) {
      // Nothing answers, and waiting out the drain would only slow the process's exit down.
      log::info("stats.sender.spooled", std::to_string(backlog()) + " undelivered event(s) stay in the spool for the next "
                                                                   "sender of this source_id");
      return;
    }
    if (m_stopping && now >= drain_deadline) return;
    auto wait = std::chrono::milliseconds(static_cast<long>(backoff * 1000));
    if (m_stopping) wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(drain_deadline - now));
    m_wake.wait_for(lock, wait, [&] { return m_stopping && drain_deadline == std::chrono::steady_clock::time_point{}; });
    backoff = std::min(backoff * 2, m_options.retry_max_sec);
  }
}

void StatsSender::stop() {
  {
    std::lock_guard lock(m_mutex);
    if (m_stopping && !m_thread.joinable()) return;
    m_stopping = true;
    if (backlog() > 0 && m_thread.joinable()) {
      const auto events = backlog();
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
  c.pending = static_cast<std::int64_t>(backlog());
  if (m_spool) {
    c.evicted = m_spool->evicted();
    c.replayed = m_spool->recovery().records;
  }
  return c;
}

}  // namespace vision
