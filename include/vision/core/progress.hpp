// A one-line progress display on stderr for long work ("autolabel 120/500 images 12.3 img/s
// ETA 0:31"). It only draws when stdout is a terminal, so piped or scripted runs stay quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vision {

class Progress {
 public:
  Progress(std::string label, std::int64_t total, std::string unit);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Sets the count done; redraws at most ten times a second. `note` is appended as is.
  void update(std::int64_t done, const std::string& note = "");
  // Draws the final state and ends the line.
  void finish();

  static bool enabled();

 private:
  void draw(const std::string& note);

  std::string m_label;
  std::int64_t m_total;
  std::string m_unit;
  std::int64_t m_done = 0;
  bool m_enabled;
  bool m_finished = false;
  std::chrono::steady_clock::time_point m_started;
  std::chrono::steady_clock::time_point m_last_draw;
};

}  // namespace vision
