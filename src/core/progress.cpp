// Progress of long work: a line redrawn in place on a terminal, plain lines elsewhere.
#include "vision/core/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace vision {

namespace {

constexpr auto k_redraw_interval = std::chrono::milliseconds(100);

std::string minutes_seconds(double seconds) {
  const auto whole = static_cast<long>(seconds);
  char text[32];
  std::snprintf(text, sizeof text, "%ld:%02ld", whole / 60, whole % 60);
  return text;
}

}  // namespace

ProgressOutput ProgressOutput::standard_error() { return {.stream = &std::cerr, .terminal = isatty(STDERR_FILENO) == 1}; }

Progress::Progress(std::string label, std::int64_t total, std::string unit)
    : Progress(std::move(label), total, std::move(unit), ProgressOutput::standard_error()) {}

Progress::Progress(std::string label, std::int64_t total, std::string unit, ProgressOutput output)
    : m_label(std::move(label)),
      m_total(total),
      m_unit(std::move(unit)),
      m_output(output),
      m_started(Clock::now()),
      m_last_draw(m_started) {}

Progress::~Progress() { finish(); }

void Progress::update(std::int64_t done, const std::string& note) {
  m_done = done;
  m_note = note;
  if (m_finished) return;
  const auto now = Clock::now();
  if (m_output.terminal) {
    if (now - m_last_draw < k_redraw_interval && (m_total <= 0 || done < m_total)) return;
    m_last_draw = now;
    *m_output.stream << "\r\033[K" << describe(false) << std::flush;
    return;
  }
  if (!plain_line_due(now)) return;
  m_last_draw = now;
  m_line_done = done;
  *m_output.stream << describe(false) << '\n' << std::flush;
}

void Progress::finish() {
  if (m_finished) return;
  m_finished = true;
  *m_output.stream << (m_output.terminal ? "\r\033[K" : "") << describe(true) << '\n' << std::flush;
}

bool Progress::plain_line_due(Clock::time_point now) const {
  if (now - m_last_draw < m_output.plain_interval) return false;
  if (m_total <= 0) return true;
  // The final line reports a complete count; a line just before it would say the same.
  return m_done < m_total && (m_done - m_line_done) * 10 >= m_total;
}

std::string Progress::describe(bool final) const {
  const double seconds = std::chrono::duration<double>(Clock::now() - m_started).count();
  const double rate = seconds > 0 ? static_cast<double>(m_done) / seconds : 0.0;
  std::string text = m_label + " " + std::to_string(m_done);
  if (m_total > 0) text += "/" + std::to_string(m_total);
  text += " " + m_unit;
  char figures[96];
  if (m_total > 0) {
    std::snprintf(figures, sizeof figures, " (%d%%)", static_cast<int>(100 * m_done / m_total));
    text += figures;
  }
  std::snprintf(figures, sizeof figures, "  %.1f %s/s", rate, m_unit.c_str());
  text += figures;
  if (final) {
    text += "  in " + minutes_seconds(seconds);
  } else if (m_total > 0) {
    text += "  ETA " + (rate > 0 && m_total > m_done ? minutes_seconds(static_cast<double>(m_total - m_done) / rate)
                                                      : std::string("--:--"));
  }
  if (!m_note.empty()) text += "  " + m_note;
  return text;
}

}  // namespace vision
