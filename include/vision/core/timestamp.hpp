// Times as ISO-8601 text: the one parser that every time Vision reads goes through (the
// StatsEvent contract, the statistics API's filters), and the one canonical form every time it
// writes takes, "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, fixed width), so that text order is time
// order in both SQLite and PostgreSQL and range filters and buckets can use the index.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vision/core/error.hpp"

namespace vision {

// Microseconds since 1970-01-01T00:00:00Z for an ISO-8601 date-time
// ("2025-01-01T12:00:00Z", "…12:00:00.5+02:00", "…12:00:00-0130", "2025-01-01 12:00:00"; no
// zone means UTC; 1 to 9 fraction digits, the first 6 kept) or a date ("2025-01-01", midnight
// UTC). ErrorCode::invalid_data for anything else, including impossible dates and times such as
// month 13, day 32, 2025-02-30 and 24:00:00.
Expected<std::int64_t> parse_utc_micros(std::string_view text);

// True when parse_utc_micros accepts `text` and it has a time of day (a date alone is not a
// StatsEvent's ts_utc).
bool is_iso8601_utc(std::string_view text);

// The canonical form of a time.
std::string format_utc_micros(std::int64_t micros);

// parse + format: the canonical form of any accepted input.
Expected<std::string> canonical_utc(std::string_view text);

std::int64_t now_utc_micros();

// The canonical form of now, e.g. 2026-11-26T08:10:00.123456Z.
std::string utc_timestamp_now();

}  // namespace vision
