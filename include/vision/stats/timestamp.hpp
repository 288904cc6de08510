// Event times. Every ts_utc is stored in one canonical form, "YYYY-MM-DDTHH:MM:SS.ffffffZ"
// (UTC, fixed width), so text order is time order in both SQLite and PostgreSQL and range
// filters and buckets can use the index.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vision/core/error.hpp"

namespace vision::stats {

// Microseconds since 1970-01-01T00:00:00Z for an ISO-8601 date-time
// ("2025-01-01T12:00:00Z", "…12:00:00.5+02:00", "2025-01-01 12:00:00"; no zone means UTC) or a
// date ("2025-01-01", midnight UTC). ErrorCode::invalid_data for anything else, including
// impossible dates such as 2025-02-30.
Expected<std::int64_t> parse_utc_micros(std::string_view text);

// The canonical form of a time.
std::string format_utc_micros(std::int64_t micros);

// parse + format: the canonical form of any accepted input.
Expected<std::string> canonical_utc(std::string_view text);

std::int64_t now_utc_micros();

}  // namespace vision::stats
