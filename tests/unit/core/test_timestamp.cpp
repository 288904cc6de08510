// ISO-8601 times: every accepted form maps to one canonical UTC text, impossible dates and
// times are refused, and the StatsEvent check (is_iso8601_utc) is the same parser.
#include <gtest/gtest.h>

#include "vision/core/timestamp.hpp"

using vision::canonical_utc;
using vision::format_utc_micros;
using vision::is_iso8601_utc;
using vision::parse_utc_micros;

TEST(Timestamp, AcceptedFormsBecomeCanonicalUtc) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"2025-01-01T12:00:00Z", "2025-01-01T12:00:00.000000Z"},
      {"2025-01-01T12:00:00.5Z", "2025-01-01T12:00:00.500000Z"},
      {"2025-01-01T12:00:00.123456789Z", "2025-01-01T12:00:00.123456Z"},
      {"2025-01-01 12:00:00", "2025-01-01T12:00:00.000000Z"},
      {"2025-01-01T12:00:00+02:00", "2025-01-01T10:00:00.000000Z"},
      {"2025-01-01T01:30:00-0130", "2025-01-01T03:00:00.000000Z"},
      {"2025-01-01T00:30:00+01:00", "2024-12-31T23:30:00.000000Z"},
      {"2024-02-29T23:59:59.999999Z", "2024-02-29T23:59:59.999999Z"},
      {"2025-03-04", "2025-03-04T00:00:00.000000Z"},
      {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000000Z"},
  };
  for (const auto& [input, expected] : cases) {
    auto canonical = canonical_utc(input);
    ASSERT_TRUE(canonical) << input << ": " << canonical.error().message;
    EXPECT_EQ(*canonical, expected) << input;
  }
}

TEST(Timestamp, RejectsMalformedAndImpossibleTimes) {
  for (const char* input :
       {"", "2025", "2025-13-01T00:00:00Z", "2025-00-10T00:00:00Z", "2025-01-32T00:00:00Z",
        "2025-04-31T00:00:00Z", "2025-02-30T00:00:00Z", "2023-02-29", "2025-01-01T24:00:00Z",
        "2025-01-01T12:60:00Z", "2025-01-01T12:00:61Z", "2025-01-01T12:00:00.Z",
        "2025-01-01T12:00:00.1234567890Z", "2025-01-01T12:00:00Zjunk", "2025-01-01X12:00:00",
        "yesterday", "26/11/2026 08:10", "2026-11-26T08:10Z", "2026-1a-26T08:10:00Z",
        "2025-01-01T12:00:00+25:00", "2025-01-01T12:00:00+02:60", "2025-01-01T12:00:00+2:00",
        "2025-01-01T12:00:00+02:00:00"}) {
    auto micros = parse_utc_micros(input);
    EXPECT_FALSE(micros) << input;
    if (!micros) {
      EXPECT_EQ(micros.error().code, vision::ErrorCode::invalid_data);
    }
  }
}

TEST(Timestamp, CanonicalTextSortsLikeTime) {
  const auto a = *canonical_utc("2025-01-01T12:00:00Z");
  const auto b = *canonical_utc("2025-01-01T12:00:00.5Z");
  const auto c = *canonical_utc("2025-01-01T12:00:01Z");
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST(Timestamp, FormatRoundTripsParse) {
  for (std::int64_t micros :
       {0LL, 1LL, 1735732800000000LL, 1735732800123456LL, 4102444799999999LL}) {
    EXPECT_EQ(*parse_utc_micros(format_utc_micros(micros)), micros);
  }
  EXPECT_EQ(*parse_utc_micros("2025-01-01T12:00:00Z"), 1735732800000000LL);
}

// The StatsEvent contract takes the same forms, but only with a time of day, and refuses what
// the parser refuses (a digits-only check once let month 13 through).
TEST(Timestamp, Iso8601CheckIsTheParserWithATimeOfDay) {
  for (const char* ok : {"2026-11-26T08:10:00Z", "2026-11-26T08:10:00.123456Z", "2026-11-26T08:10:00+02:00",
                         "2026-11-26 08:10:00", "2026-11-26T08:10:00.1-0530", "2026-11-26T08:10:00.123456789Z",
                         "2024-02-29T23:59:59z", "2026-11-26T08:10:00-23:59"}) {
    EXPECT_TRUE(is_iso8601_utc(ok)) << ok;
    EXPECT_TRUE(parse_utc_micros(ok)) << ok;
  }
  for (const char* bad : {"", "2026-11-26", "2026-13-26T08:10:00Z", "2026-11-32T08:10:00Z", "2025-02-30T08:10:00Z",
                          "2026-11-26T24:00:00Z", "2026-11-26T08:10Z", "2026-11-26T08:10:00.Z",
                          "2026-11-26T08:10:00.1234567890Z", "2026-11-26T08:10:00Zjunk", "2026-11-26T08:10:00+24:00",
                          "2026-11-26T08:10:00+2:00", "2026-11-26T08:10:00+02:00:00"}) {
    EXPECT_FALSE(is_iso8601_utc(bad)) << bad;
  }
}

TEST(Timestamp, NowIsCanonical) {
  const std::string now = vision::utc_timestamp_now();
  ASSERT_EQ(now.size(), 27U) << now;
  EXPECT_EQ(*canonical_utc(now), now);
}
