#include "dataplane/state/upstream_limits.h"

#include "gtest/gtest.h"

namespace ccrelay::state {
namespace {

constexpr int64_t kNow = 1'900'000'000'000;  // 2030-03-17T17:46:40Z

TEST(Rfc3339Test, ParsesUtcOffsetsAndFractions) {
  EXPECT_EQ(ParseRfc3339Ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseRfc3339Ms("2030-01-01T00:00:00Z"), 1893456000000);
  EXPECT_EQ(ParseRfc3339Ms("2030-01-01T00:00:00.250Z"), 1893456000250);
  EXPECT_EQ(ParseRfc3339Ms("2030-01-01T01:30:00+01:30"), 1893456000000);
  EXPECT_EQ(ParseRfc3339Ms("2029-12-31T23:00:00-01:00"), 1893456000000);
  EXPECT_EQ(ParseRfc3339Ms("2024-02-29T12:00:00Z"), 1709208000000);
}

TEST(Rfc3339Test, RejectsMalformed) {
  EXPECT_FALSE(ParseRfc3339Ms("").has_value());
  EXPECT_FALSE(ParseRfc3339Ms("2030-01-01").has_value());
  EXPECT_FALSE(ParseRfc3339Ms("2030-01-01T00:00:00").has_value());  // no zone
  EXPECT_FALSE(ParseRfc3339Ms("2030-13-01T00:00:00Z").has_value());
  EXPECT_FALSE(ParseRfc3339Ms("2030-01-01T00:00:00Zjunk").has_value());
  EXPECT_FALSE(ParseRfc3339Ms("1893456000").has_value());
}

TEST(HttpDateTest, ParsesImfFixdate) {
  EXPECT_EQ(ParseHttpDateMs("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777000);
  EXPECT_FALSE(ParseHttpDateMs("Sunday, 06-Nov-94 08:49:37 GMT").has_value());
  EXPECT_FALSE(ParseHttpDateMs("Sun, 06 Foo 1994 08:49:37 GMT").has_value());
  EXPECT_FALSE(ParseHttpDateMs("Sun, 06 Nov 1994 08:49:37 UTC").has_value());
}

TEST(UpstreamLimitsTest, ReadsTheFourStandardFamilies) {
  UpstreamLimits l;
  l.Add("anthropic-ratelimit-requests-limit", "50", kNow);
  l.Add("anthropic-ratelimit-requests-remaining", "49", kNow);
  l.Add("anthropic-ratelimit-requests-reset", "2030-01-01T00:00:00Z", kNow);
  l.Add("Anthropic-RateLimit-Tokens-Remaining", "99000", kNow);
  l.Add("anthropic-ratelimit-input-tokens-limit", "30000", kNow);
  l.Add("anthropic-ratelimit-input-tokens-remaining", "0", kNow);
  l.Add("anthropic-ratelimit-output-tokens-reset", "2030-01-01T00:00:01Z", kNow);
  l.Add("content-type", "application/json", kNow);
  EXPECT_TRUE(l.has_standard);
  EXPECT_FALSE(l.has_unified);
  EXPECT_EQ(l.requests.limit, 50);
  EXPECT_EQ(l.requests.remaining, 49);
  EXPECT_EQ(l.requests.reset_unix_ms, 1893456000000);
  EXPECT_EQ(l.tokens.remaining, 99000);
  EXPECT_EQ(l.tokens.limit, -1);
  EXPECT_EQ(l.input_tokens.limit, 30000);
  EXPECT_EQ(l.input_tokens.remaining, 0);
  EXPECT_EQ(l.output_tokens.reset_unix_ms, 1893456001000);
  EXPECT_EQ(l.retry_after_ms, -1);
}

TEST(UpstreamLimitsTest, UnrelatedHeadersAreIgnored) {
  UpstreamLimits l;
  l.Add("anthropic-organization-id", "org", kNow);
  l.Add("anthropic-ratelimit-unknown-thing", "1", kNow);
  l.Add("request-id", "req_1", kNow);
  EXPECT_FALSE(l.has_standard);
  EXPECT_FALSE(l.has_unified);
}

TEST(UpstreamLimitsTest, RetryAfterInSecondsOrAsADate) {
  UpstreamLimits seconds;
  seconds.Add("retry-after", "17", kNow);
  EXPECT_EQ(seconds.retry_after_ms, 17000);
  UpstreamLimits fraction;
  fraction.Add("Retry-After", " 1.5 ", kNow);
  EXPECT_EQ(fraction.retry_after_ms, 1500);
  UpstreamLimits date;
  // kNow + 90 s as an HTTP date.
  date.Add("retry-after", "Sun, 17 Mar 2030 17:48:10 GMT", kNow);
  EXPECT_EQ(date.retry_after_ms, 90000);
  UpstreamLimits past;
  past.Add("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT", kNow);
  EXPECT_EQ(past.retry_after_ms, 0);
  UpstreamLimits junk;
  junk.Add("retry-after", "soon", kNow);
  EXPECT_EQ(junk.retry_after_ms, -1);
}

TEST(UpstreamLimitsTest, UnifiedRejectedUntilItsReset) {
  UpstreamLimits l;
  l.Add("anthropic-ratelimit-unified-status", "rejected", kNow);
  l.Add("anthropic-ratelimit-unified-reset", "1900003600", kNow);
  l.Add("anthropic-ratelimit-unified-5h-utilization", "1.0", kNow);
  EXPECT_TRUE(l.has_unified);
  EXPECT_EQ(l.unified, UnifiedStatus::kRejected);
  EXPECT_EQ(l.UnifiedRejectedUntil(), 1900003600000);
}

TEST(UpstreamLimitsTest, UnifiedRejectedFallsBackToTheRejectedWindowReset) {
  UpstreamLimits l;
  l.Add("anthropic-ratelimit-unified-5h-status", "allowed", kNow);
  l.Add("anthropic-ratelimit-unified-5h-reset", "1900001000", kNow);
  l.Add("anthropic-ratelimit-unified-7d-status", "rejected", kNow);
  l.Add("anthropic-ratelimit-unified-7d-reset", "1900500000", kNow);
  EXPECT_EQ(l.UnifiedRejectedUntil(), 1900500000000);
  UpstreamLimits no_reset;
  no_reset.Add("anthropic-ratelimit-unified-status", "rejected", kNow);
  EXPECT_EQ(no_reset.UnifiedRejectedUntil(), -1);
}

TEST(UpstreamLimitsTest, AllowedOrWarningIsNotRejected) {
  UpstreamLimits allowed;
  allowed.Add("anthropic-ratelimit-unified-status", "allowed", kNow);
  EXPECT_FALSE(allowed.UnifiedRejectedUntil().has_value());
  UpstreamLimits warning;
  warning.Add("anthropic-ratelimit-unified-status", "allowed_warning", kNow);
  warning.Add("anthropic-ratelimit-unified-5h-status", "rejected", kNow);  // overage allowed
  EXPECT_EQ(warning.unified, UnifiedStatus::kAllowedWarning);
  EXPECT_FALSE(warning.UnifiedRejectedUntil().has_value()) << "the overall status decides";
}

}  // namespace
}  // namespace ccrelay::state
