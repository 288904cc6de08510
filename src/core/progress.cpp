#include "vision/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace vision {

bool Progress::enabled() { return isatty(STDOUT_FILENO) == 1 && isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, std::int64_t total, std::string unit)
    : m_label(std::move(label)),
      m_total(total),
      m_unit(std::move(unit)),
      m_enabled(enabled()),
      m_started(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::update(std::int64_t done, const std::string& note) {
  m_done = done;
  if (!m_enabled) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - m_last_draw < std::chrono::milliseconds(100) && done < m_total) return;
  m_last_draw = now;
  draw(note);
}

void Progress::finish() {
  if (!m_enabled || m_finished) return;
  m_finished = true;
  draw("");
  std::fputc('\n', stderr);
}

void Progress::draw(const std::string& note) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_started).count();
  const double rate = seconds > 0 ? static_cast<double>(m_done) / seconds : 0.0;
  std::string eta = "--:--";
  if (rate > 0 && m_total > m_done) {
    const auto left = static_cast<long>((static_cast<double>(m_total - m_done)) / rate);
    char text[32];
    std::snprintf(text, sizeof text, "%ld:%02ld", left / 60, left % 60);
    eta = text;
  }
  std::fprintf(stderr, "\r\033[K%s %lld/%lld %s  %.1f %s/s  ETA %s %s", m_label.c_str(),
               static_cast<long long>(m_done), static_cast<long long>(m_total), m_unit.c_str(), rate,
               m_unit.c_str(), eta.c_str(), note.c_str());
  std::fflush(stderr);
}

}  // namespace vision
