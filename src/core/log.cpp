#include "vision/core/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdio>

#include "vision/core/error.hpp"
#include "vision/core/timestamp.hpp"

namespace vision {

std::optional<LogLevel> parse_log_level(std::string_view text) {
  if (text == "DEBUG") return LogLevel::debug;
  if (text == "INFO") return LogLevel::info;
  if (text == "WARN") return LogLevel::warn;
  if (text == "ERROR") return LogLevel::error;
  return std::nullopt;
}

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "DEBUG";
    case LogLevel::info: return "INFO";
    case LogLevel::warn: return "WARN";
    case LogLevel::error: return "ERROR";
  }
  return "INFO";
}

Logger::~Logger() { close(); }

Logger& Logger::global() {
  static Logger logger;
  return logger;
}

void Logger::open(const std::filesystem::path& file, LogLevel level) {
  close();
  m_level = level;
  if (file.empty()) return;
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  m_fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (m_fd < 0) {
    throw VisionError(ErrorCode::io, "cannot open log file " + file.string() + ": " +
                                         std::strerror(errno));
  }
}

void Logger::close() {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = -1;
}

void Logger::write(LogLevel level, std::string_view event, std::string_view message,
                   const nlohmann::json& fields) {
  if (level < m_level) return;
  if (m_fd >= 0) {
    nlohmann::json line = {{"ts_utc", utc_timestamp_now()},
                           {"level", log_level_name(level)},
                           {"event", event},
                           {"message", message}};
    const nlohmann::json& context = m_context;
    for (const auto* extra : {&fields, &context}) {
      if (!extra->is_object()) continue;
      for (const auto& [key, value] : extra->items()) {
        if (!line.contains(key)) line[key] = value;
      }
    }
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text.push_back('\n');
    // A single write on an O_APPEND descriptor keeps lines whole across threads and processes.
    const char* data = text.data();
    size_t left = text.size();
    while (left > 0) {
      const ssize_t written = ::write(m_fd, data, left);
      if (written < 0) {
        if (errno == EINTR) continue;
        break;
      }
      data += written;
      left -= static_cast<size_t>(written);
    }
  }
  if (m_stderr_enabled) {
    std::lock_guard lock(m_stderr_mutex);
    std::fprintf(stderr, "[%s] %.*s\n", log_level_name(level), static_cast<int>(message.size()),
                 message.data());
  }
}

namespace log {
void debug(std::string_view event, std::string_view message, const nlohmann::json& fields) {
  Logger::global().write(LogLevel::debug, event, message, fields);
}
void info(std::string_view event, std::string_view message, const nlohmann::json& fields) {
  Logger::global().write(LogLevel::info, event, message, fields);
}
void warn(std::string_view event, std::string_view message, const nlohmann::json& fields) {
  Logger::global().write(LogLevel::warn, event, message, fields);
}
void error(std::string_view event, std::string_view message, const nlohmann::json& fields) {
  Logger::global().write(LogLevel::error, event, message, fields);
}
}  // namespace log

}  // namespace vision
