// Structured log (SPEC 3.4): one JSON object per line in <root>/<log_file>, plus a short human
// line on stderr. Safe for many threads and several processes sharing one file: each line is
// formatted first and written with a single write() on an O_APPEND descriptor.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace vision {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

std::optional<LogLevel> parse_log_level(std::string_view text);
const char* log_level_name(LogLevel level);

class Logger {
 public:
  Logger() = default;
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // The process-wide logger that modules write to.
  static Logger& global();

  // Starts appending to `file` (created with its folder when missing). An empty path keeps
  // logging to stderr only.
  void open(const std::filesystem::path& file, LogLevel level);
  void close();
  void set_level(LogLevel level) { m_level = level; }
  void set_stderr_enabled(bool enabled) { m_stderr_enabled = enabled; }
  // Fields every later line of the file carries where it has none of its own name, e.g. a
  // data-parallel rank's {"rank": N}. Set before other threads log.
  void set_context(nlohmann::json fields) { m_context = std::move(fields); }

  void write(LogLevel level, std::string_view event, std::string_view message,
             const nlohmann::json& fields = nlohmann::json::object());

 private:
  int m_fd = -1;
  LogLevel m_level = LogLevel::info;
  bool m_stderr_enabled = true;
  nlohmann::json m_context = nlohmann::json::object();
  std::mutex m_stderr_mutex;
};

namespace log {
void debug(std::string_view event, std::string_view message,
           const nlohmann::json& fields = nlohmann::json::object());
void info(std::string_view event, std::string_view message,
          const nlohmann::json& fields = nlohmann::json::object());
void warn(std::string_view event, std::string_view message,
          const nlohmann::json& fields = nlohmann::json::object());
void error(std::string_view event, std::string_view message,
           const nlohmann::json& fields = nlohmann::json::object());
}  // namespace log

}  // namespace vision
