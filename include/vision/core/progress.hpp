// Progress of long work on stderr ("autolabel 120/500 img (24%)  12.3 img/s  ETA 0:31"). On a
// terminal one line is redrawn in place; anywhere else (a pipe, a CI log) plain lines are written,
// few enough to keep a log short, and never a carriage return.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace vision {

// Where a Progress writes and how it looks there.
struct ProgressOutput {
  std::ostream* stream = nullptr;
  bool terminal = false;
  // Plain lines (not a terminal): at most one per tenth of the total and one per this interval,
  // whichever comes rarer, then the final line. A tenth alone would flood the log of a long
  // run with fast steps; the interval alone would repeat itself on a slow one.
  std::chrono::milliseconds plain_interval{10'000};

  // std::cerr, drawn in place when stderr is a terminal.
  static ProgressOutput standard_error();
};

class Progress {
 public:
  // `total` <= 0: unknown (a camera, a folder without a frame limit); counts without percentages.
  Progress(std::string label, std::int64_t total, std::string unit);
  Progress(std::string label, std::int64_t total, std::string unit, ProgressOutput output);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Sets the count done and the note shown after the figures (e.g. the losses). On a terminal
  // it redraws at most ten times a second; elsewhere it writes a line when one is due.
  void update(std::int64_t done, const std::string& note = "");
  // Writes the final state (with the elapsed time instead of the ETA) and ends the line.
  void finish();

 private:
  using Clock = std::chrono::steady_clock;

  bool plain_line_due(Clock::time_point now) const;
  std::string describe(bool final) const;

  std::string m_label;
  std::int64_t m_total;
  std::string m_unit;
  ProgressOutput m_output;
  std::int64_t m_done = 0;
  std::string m_note;
  bool m_finished = false;
  Clock::time_point m_started;
  Clock::time_point m_last_draw;
  std::int64_t m_line_done = 0;  // the count of the last plain line
};

}  // namespace vision
