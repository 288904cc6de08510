// ISO-8601 parsing and the canonical UTC form, with the civil-date arithmetic done by hand (it
// runs on every pushed statistics event).
#include "vision/core/timestamp.hpp"

#include <chrono>
#include <cstdio>

namespace vision {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2 ? 1 : 0;
}

bool is_leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : k_days[m - 1];
}

class Cursor {
 public:
  explicit Cursor(std::string_view text) : m_text(text) {}
  bool done() const { return m_pos >= m_text.size(); }
  char peek() const { return done() ? '\0' : m_text[m_pos]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++m_pos;
    return true;
  }
  // Exactly `n` digits.
  bool digits(int n, int& out) {
    out = 0;
    for (int i = 0; i < n; ++i) {
      const char c = peek();
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
      ++m_pos;
    }
    return true;
  }

 private:
  std::string_view m_text;
  size_t m_pos = 0;
};

Error bad_time(std::string_view text, const char* why) {
  return Error{ErrorCode::invalid_data,
               "not an ISO-8601 time (" + std::string(why) + "): \"" + std::string(text) + "\""};
}

enum class TimeOfDay { optional, required };

Expected<std::int64_t> parse(std::string_view text, TimeOfDay time_of_day) {
  Cursor c(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!c.digits(4, year) || !c.eat('-') || !c.digits(2, month) || !c.eat('-') ||
      !c.digits(2, day)) {
    return std::unexpected(bad_time(text, "expected YYYY-MM-DD"));
  }
  if (month < 1 || month > 12) return std::unexpected(bad_time(text, "month out of range"));
  if (day < 1 || static_cast<unsigned>(day) > days_in_month(year, static_cast<unsigned>(month))) {
    return std::unexpected(bad_time(text, "day out of range"));
  }
  std::int64_t micros_of_day = 0;
  std::int64_t offset_seconds = 0;
  if (c.done() && time_of_day == TimeOfDay::required) {
    return std::unexpected(bad_time(text, "expected a time after the date"));
  }
  if (!c.done()) {
    if (!c.eat('T') && !c.eat(' '))
      return std::unexpected(bad_time(text, "expected T between date and time"));
    if (!c.digits(2, hour) || !c.eat(':') || !c.digits(2, minute) || !c.eat(':') ||
        !c.digits(2, second)) {
      return std::unexpected(bad_time(text, "expected HH:MM:SS"));
    }
    if (hour > 23 || minute > 59 || second > 59)
      return std::unexpected(bad_time(text, "time out of range"));
    std::int64_t fraction = 0;
    if (c.eat('.')) {
      int n = 0;
      std::int64_t scale = 100000;
      while (c.peek() >= '0' && c.peek() <= '9') {
        if (n < 6) fraction += (c.peek() - '0') * scale;
        scale /= 10;
        c.eat(c.peek());
        ++n;
      }
      if (n == 0 || n > 9) return std::unexpected(bad_time(text, "1 to 9 fraction digits"));
    }
    micros_of_day = ((hour * 60LL + minute) * 60LL + second) * 1'000'000LL + fraction;
    if (c.eat('Z') || c.eat('z')) {
    } else if (c.peek() == '+' || c.peek() == '-') {
      const int sign = c.peek() == '-' ? -1 : 1;
      c.eat(c.peek());
      int oh = 0, om = 0;
      if (!c.digits(2, oh)) return std::unexpected(bad_time(text, "bad zone offset"));
      c.eat(':');
      if (!c.digits(2, om) || oh > 23 || om > 59)
        return std::unexpected(bad_time(text, "bad zone offset"));
      offset_seconds = sign * (oh * 3600LL + om * 60LL);
    }
  }
  if (!c.done()) return std::unexpected(bad_time(text, "unexpected trailing characters"));
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return days * 86'400'000'000LL + micros_of_day - offset_seconds * 1'000'000LL;
}

}  // namespace

Expected<std::int64_t> parse_utc_micros(std::string_view text) { return parse(text, TimeOfDay::optional); }

bool is_iso8601_utc(std::string_view text) { return parse(text, TimeOfDay::required).has_value(); }

std::string format_utc_micros(std::int64_t micros) {
  std::int64_t days = micros / 86'400'000'000LL;
  std::int64_t rest = micros % 86'400'000'000LL;
  if (rest < 0) {
    rest += 86'400'000'000LL;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  const std::int64_t seconds = rest / 1'000'000;
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60),
                static_cast<long long>(rest % 1'000'000));
  return buffer;
}

Expected<std::string> canonical_utc(std::string_view text) {
  auto micros = parse_utc_micros(text);
  if (!micros) return std::unexpected(micros.error());
  return format_utc_micros(*micros);
}

std::int64_t now_utc_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string utc_timestamp_now() { return format_utc_micros(now_utc_micros()); }

}  // namespace vision
