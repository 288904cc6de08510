#include "vision/stats/stats_metrics.hpp"

#include <cstdio>

namespace vision::stats {

namespace {
constexpr const char* k_endpoint_names[] = {"push", "push_batch"};

std::string number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.9g", value);
  return buffer;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += number(value);
  out += '\n';
}
}  // namespace

void LatencyHistogram::observe(std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  for (size_t i = 0; i < k_bounds.size(); ++i) {
    if (seconds <= k_bounds[i]) {
      m_buckets[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  m_count.fetch_add(1, std::memory_order_relaxed);
  m_sum_ns.fetch_add(static_cast<std::uint64_t>(duration.count()), std::memory_order_relaxed);
}

void LatencyHistogram::render(std::string& out, const std::string& name,
                              const std::string& labels) const {
  const std::string prefix = labels.empty() ? "" : labels + ",";
  std::uint64_t cumulative = 0;
  for (size_t i = 0; i < k_bounds.size(); ++i) {
    cumulative += m_buckets[i].load(std::memory_order_relaxed);
    sample(out, name + "_bucket", prefix + "le=\"" + number(k_bounds[i]) + "\"",
           static_cast<double>(cumulative));
  }
  const auto total = m_count.load(std::memory_order_relaxed);
  sample(out, name + "_bucket", prefix + "le=\"+Inf\"", static_cast<double>(total));
  sample(out, name + "_sum", labels, static_cast<double>(m_sum_ns.load()) / 1e9);
  sample(out, name + "_count", labels, static_cast<double>(total));
}

StatsMetrics::StatsMetrics() : m_started(std::chrono::steady_clock::now()) {}

void StatsMetrics::count_push(PushEndpoint endpoint, int status,
                              std::chrono::nanoseconds duration) {
  size_t slot = k_statuses.size();
  for (size_t i = 0; i < k_statuses.size(); ++i) {
    if (k_statuses[i] == status) slot = i;
  }
  const auto e = static_cast<size_t>(endpoint);
  m_push_requests[e][slot].fetch_add(1, std::memory_order_relaxed);
  m_push_seconds[e].observe(duration);
}

std::uint64_t StatsMetrics::push_requests(PushEndpoint endpoint, int status) const {
  for (size_t i = 0; i < k_statuses.size(); ++i) {
    if (k_statuses[i] == status) return m_push_requests[static_cast<size_t>(endpoint)][i].load();
  }
  return m_push_requests[static_cast<size_t>(endpoint)][k_statuses.size()].load();
}

std::string StatsMetrics::render() const {
  std::string out;
  out.reserve(4096);
  header(out, "vision_stats_push_requests_total", "counter",
         "Push requests by endpoint and HTTP status.");
  for (size_t e = 0; e < 2; ++e) {
    for (size_t i = 0; i <= k_statuses.size(); ++i) {
      const std::string status = i < k_statuses.size() ? std::to_string(k_statuses[i]) : "other";
      sample(out, "vision_stats_push_requests_total",
             std::string("endpoint=\"") + k_endpoint_names[e] + "\",status=\"" + status + "\"",
             static_cast<double>(m_push_requests[e][i].load(std::memory_order_relaxed)));
    }
  }
  header(out, "vision_stats_push_duration_seconds", "histogram",
         "Time to validate and queue a push, from request parsed to reply ready.");
  for (size_t e = 0; e < 2; ++e) {
    m_push_seconds[e].render(out, "vision_stats_push_duration_seconds",
                             std::string("endpoint=\"") + k_endpoint_names[e] + "\"");
  }
  const std::pair<const char*, std::pair<const char*, const std::atomic<std::uint64_t>*>>
      counters[] = {
          {"vision_stats_events_accepted_total",
           {"Events acknowledged to clients (queued for storage).", &events_accepted}},
          {"vision_stats_events_rejected_total",
           {"Events in rejected push requests.", &events_rejected}},
          {"vision_stats_events_stored_total", {"Events committed to the store.", &events_stored}},
          {"vision_stats_events_deleted_total",
           {"Events removed by the retention setting.", &events_deleted}},
          {"vision_stats_write_batches_total", {"Write transactions committed.", &write_batches}},
          {"vision_stats_write_errors_total",
           {"Write transactions that failed (retried).", &write_errors}},
          {"vision_stats_dead_letters_total",
           {"Events the store refused, kept with the reason in stats_dead_letters.", &dead_letters}},
      };
  for (const auto& [name, info] : counters) {
    header(out, name, "counter", info.first);
    sample(out, name, "", static_cast<double>(info.second->load(std::memory_order_relaxed)));
  }
  header(out, "vision_stats_write_queue_events", "gauge",
         "Events acknowledged but not yet committed.");
  sample(out, "vision_stats_write_queue_events", "", static_cast<double>(queue_depth.load()));
  header(out, "vision_stats_write_batch_duration_seconds", "histogram",
         "Duration of one write transaction.");
  write_batch_seconds.render(out, "vision_stats_write_batch_duration_seconds");
  header(out, "vision_stats_uptime_seconds", "gauge", "Seconds since the service started.");
  sample(out, "vision_stats_uptime_seconds", "",
         std::chrono::duration<double>(std::chrono::steady_clock::now() - m_started).count());
  return out;
}

}  // namespace vision::stats
