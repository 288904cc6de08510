// Event times: every accepted ISO-8601 form maps to one canonical UTC text.
#include <gtest/gtest.h>

#include "vision/stats/timestamp.hpp"

using vision::stats::canonical_utc;
using vision::stats::format_utc_micros;
using vision::stats::parse_utc_micros;

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
       {"", "2025", "2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z", "2023-02-29",
        "2025-01-01T24:00:00Z", "2025-01-01T12:60:00Z", "2025-01-01T12:00:61Z",
        "2025-01-01T12:00:00.Z", "2025-01-01T12:00:00Zjunk", "2025-01-01X12:00:00", "yesterday",
        "2025-01-01T12:00:00+25:00"}) {
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
