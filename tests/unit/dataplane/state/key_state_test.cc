#include "dataplane/state/key_state.h"

#include <string>

#include "gtest/gtest.h"

#include "tests/fakes/fake_clock.h"

namespace ccrelay::state {
namespace {

using Verdict = KeyCheck::Verdict;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kFallback = std::chrono::seconds(10);

// An RFC 3339 instant `offset_s` seconds after the fake clock's start.
std::string Rfc3339At(int64_t offset_s) {
  // FakeClock::kStartUnixMs is 2027-01-15T08:00:00Z; offsets stay within the hour.
  const int64_t m = offset_s / 60;
  const int64_t s = offset_s % 60;
  std::string out = "2027-01-15T08:";
  out += static_cast<char>('0' + m / 10);
  out += static_cast<char>('0' + m % 10);
  out += ':';
  out += static_cast<char>('0' + s / 10);
  out += static_cast<char>('0' + s % 10);
  out += 'Z';
  return out;
}

class KeyStateTest : public ::testing::Test {
 protected:
  UpstreamLimits Headers(std::initializer_list<std::pair<const char*, std::string>> headers) {
    UpstreamLimits l;
    for (const auto& [name, value] : headers) {
      l.Add(name, value, clock_.UnixMillis());
    }
    return l;
  }

  testing::FakeClock clock_;
  KeyState key_;
  RequestCost cost_{true, 100};
};

TEST_F(KeyStateTest, UnlimitedKeyAlwaysHasHeadroom) {
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(key_.TryAcquire(cost_, clock_.Now()).verdict, Verdict::kOk);
  }
}

TEST_F(KeyStateTest, RpmLimitTakesTheKeyOutUntilABucketRefills) {
  key_.SetLimits(KeyLimits{.rpm = 2}, clock_.Now());
  EXPECT_EQ(key_.TryAcquire(cost_, clock_.Now()).verdict, Verdict::kOk);
  EXPECT_EQ(key_.TryAcquire(cost_, clock_.Now()).verdict, Verdict::kOk);
  const KeyCheck third = key_.TryAcquire(cost_, clock_.Now());
  EXPECT_EQ(third.verdict, Verdict::kLimited);
  // 2 per minute: one more request after 30 s.
  EXPECT_GE(third.available_at - clock_.Now(), seconds(30));
  EXPECT_LT(third.available_at - clock_.Now(), seconds(31));
  clock_.Advance(seconds(30));
  EXPECT_EQ(key_.TryAcquire(cost_, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, CheckTakesNothing) {
  key_.SetLimits(KeyLimits{.rpm = 1}, clock_.Now());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kOk);
  }
}

TEST_F(KeyStateTest, InputEstimateIsReservedAndCorrected) {
  key_.SetLimits(KeyLimits{.itpm = 1000}, clock_.Now());
  const RequestCost big{true, 600};
  EXPECT_EQ(key_.TryAcquire(big, clock_.Now()).verdict, Verdict::kOk);
  EXPECT_EQ(key_.Check(big, clock_.Now()).verdict, Verdict::kLimited) << "400 left";
  // The answer says the request was only 100 tokens: 500 come back.
  key_.AdjustInput(100 - 600, clock_.Now());
  EXPECT_EQ(key_.Check(big, clock_.Now()).verdict, Verdict::kOk);
  // A larger real count than estimated leaves a debt.
  key_.AdjustInput(1500, clock_.Now());
  EXPECT_EQ(key_.Check(RequestCost{true, 1}, clock_.Now()).verdict, Verdict::kLimited);
}

TEST_F(KeyStateTest, OutputTokensAreChargedAsReported) {
  key_.SetLimits(KeyLimits{.tpm = 1000, .otpm = 500}, clock_.Now());
  EXPECT_EQ(key_.TryAcquire(RequestCost{true, 10}, clock_.Now()).verdict, Verdict::kOk);
  key_.ChargeOutput(499, clock_.Now());
  EXPECT_EQ(key_.Check(RequestCost{true, 10}, clock_.Now()).verdict, Verdict::kOk);
  key_.ChargeOutput(1, clock_.Now());
  const KeyCheck out = key_.Check(RequestCost{true, 10}, clock_.Now());
  EXPECT_EQ(out.verdict, Verdict::kLimited) << "output budget spent";
  const KeyStatus status = key_.Status(BreakerConfig{}, clock_.Now());
  EXPECT_DOUBLE_EQ(status.otpm_available, 0);
  EXPECT_DOUBLE_EQ(status.tpm_available, 490);
}

TEST_F(KeyStateTest, UnmeteredRequestsIgnoreTheBuckets) {
  key_.SetLimits(KeyLimits{.rpm = 1}, clock_.Now());
  ASSERT_EQ(key_.TryAcquire(cost_, clock_.Now()).verdict, Verdict::kOk);
  EXPECT_EQ(key_.TryAcquire(RequestCost{false, 0}, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, GiveBackReturnsAnUnusedReservation) {
  key_.SetLimits(KeyLimits{.rpm = 1}, clock_.Now());
  ASSERT_EQ(key_.TryAcquire(cost_, clock_.Now()).verdict, Verdict::kOk);
  key_.GiveBack(cost_, clock_.Now());
  EXPECT_EQ(key_.TryAcquire(cost_, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, RateLimitedCoolsUntilRetryAfter) {
  const auto until = key_.OnRateLimited(Headers({{"retry-after", "7"}}), clock_, kFallback);
  EXPECT_EQ(until - clock_.Now(), seconds(7));
  const KeyCheck check = key_.Check(cost_, clock_.Now());
  EXPECT_EQ(check.verdict, Verdict::kLimited);
  EXPECT_EQ(check.available_at, until);
  EXPECT_EQ(key_.Status(BreakerConfig{}, clock_.Now()).state, "cooling");
  clock_.Advance(seconds(7));
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, RateLimitedWithoutRetryAfterUsesTheExhaustedReset) {
  const auto until =
      key_.OnRateLimited(Headers({{"anthropic-ratelimit-requests-limit", "50"},
                                  {"anthropic-ratelimit-requests-remaining", "0"},
                                  {"anthropic-ratelimit-requests-reset", Rfc3339At(42)}}),
                         clock_, kFallback);
  EXPECT_EQ(until - clock_.Now(), seconds(42));
}

TEST_F(KeyStateTest, RateLimitedWithNothingToGoOnUsesTheFallback) {
  const auto until = key_.OnRateLimited(UpstreamLimits{}, clock_, kFallback);
  EXPECT_EQ(until - clock_.Now(), kFallback);
}

TEST_F(KeyStateTest, ShortThrottleIsNotAnExhaustedWindow) {
  // A 429 with a short retry-after while the subscription window is still allowed: only the
  // retry-after counts.
  const auto until = key_.OnRateLimited(
      Headers({{"retry-after", "2"},
               {"anthropic-ratelimit-unified-status", "allowed"},
               {"anthropic-ratelimit-unified-reset",
                std::to_string(clock_.UnixMillis() / 1000 + int64_t{4} * 3600)}}),
      clock_, kFallback);
  EXPECT_EQ(until - clock_.Now(), seconds(2));
  clock_.Advance(seconds(2));
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, RejectedUnifiedWindowLastsUntilItsReset) {
  const int64_t reset_s = clock_.UnixMillis() / 1000 + int64_t{3} * 3600;
  const auto until =
      key_.OnRateLimited(Headers({{"retry-after", "2"},
                                  {"anthropic-ratelimit-unified-status", "rejected"},
                                  {"anthropic-ratelimit-unified-reset", std::to_string(reset_s)}}),
                         clock_, kFallback);
  EXPECT_EQ(until - clock_.Now(), std::chrono::hours(3));
  clock_.Advance(std::chrono::hours(2));
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kLimited);
  EXPECT_EQ(key_.Status(BreakerConfig{}, clock_.Now()).state, "rate_limited");
  clock_.Advance(std::chrono::hours(1));
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, RemainingZeroBlocksUntilResetBeforeAny429) {
  key_.Learn(Headers({{"anthropic-ratelimit-tokens-limit", "100000"},
                      {"anthropic-ratelimit-tokens-remaining", "0"},
                      {"anthropic-ratelimit-tokens-reset", Rfc3339At(20)}}),
             clock_, kFallback);
  const KeyCheck check = key_.Check(cost_, clock_.Now());
  EXPECT_EQ(check.verdict, Verdict::kLimited);
  EXPECT_EQ(check.available_at - clock_.Now(), seconds(20));
  clock_.Advance(seconds(20));
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, LowRemainingRanksTheKeyAfterOthers) {
  key_.Learn(Headers({{"anthropic-ratelimit-requests-limit", "50"},
                      {"anthropic-ratelimit-requests-remaining", "4"},
                      {"anthropic-ratelimit-requests-reset", Rfc3339At(30)}}),
             clock_, kFallback);
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kLow);
  // The next answer shows room again: the picture is replaced.
  key_.Learn(Headers({{"anthropic-ratelimit-requests-limit", "50"},
                      {"anthropic-ratelimit-requests-remaining", "40"},
                      {"anthropic-ratelimit-requests-reset", Rfc3339At(30)}}),
             clock_, kFallback);
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, PlentyOfRoomOrAPastResetChangesNothing) {
  key_.Learn(Headers({{"anthropic-ratelimit-requests-limit", "50"},
                      {"anthropic-ratelimit-requests-remaining", "49"},
                      {"anthropic-ratelimit-requests-reset", "2030-01-01T00:00:00Z"},
                      {"anthropic-ratelimit-tokens-remaining", "0"},
                      {"anthropic-ratelimit-tokens-reset", "2020-01-01T00:00:00Z"}}),
             clock_, kFallback);
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, FarFutureStandardResetIsCapped) {
  key_.Learn(Headers({{"anthropic-ratelimit-requests-remaining", "0"},
                      {"anthropic-ratelimit-requests-reset", "2099-01-01T00:00:00Z"}}),
             clock_, kFallback);
  const KeyCheck check = key_.Check(cost_, clock_.Now());
  EXPECT_EQ(check.verdict, Verdict::kLimited);
  EXPECT_EQ(check.available_at - clock_.Now(), KeyState::kMaxStandardReset);
}

TEST_F(KeyStateTest, AllowedWarningPrefersOtherKeys) {
  key_.Learn(Headers({{"anthropic-ratelimit-unified-status", "allowed_warning"},
                      {"anthropic-ratelimit-unified-reset",
                       std::to_string(clock_.UnixMillis() / 1000 + 600)}}),
             clock_, kFallback);
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kLow);
  EXPECT_EQ(key_.Status(BreakerConfig{}, clock_.Now()).state, "low");
  clock_.Advance(seconds(600));
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, DisableIsReportedOnceAndSticks) {
  EXPECT_TRUE(key_.Disable("upstream answered 401", clock_.UnixMillis()));
  EXPECT_FALSE(key_.Disable("upstream answered 401", clock_.UnixMillis()));
  EXPECT_TRUE(key_.disabled());
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kDisabled);
  clock_.Advance(std::chrono::hours(48));
  EXPECT_EQ(key_.TryAcquire(cost_, clock_.Now()).verdict, Verdict::kDisabled);
  const KeyStatus status = key_.Status(BreakerConfig{}, clock_.Now());
  EXPECT_EQ(status.state, "auth_failed");
  EXPECT_EQ(status.disabled_reason, "upstream answered 401");
  key_.Enable();
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kOk);
}

TEST_F(KeyStateTest, StatusShowsLimitsAndOpenBreaker) {
  key_.SetLimits(KeyLimits{.rpm = 10, .tpm = 0, .itpm = 100, .otpm = 0}, clock_.Now());
  BreakerConfig config;
  for (int i = 0; i < 5; ++i) {
    key_.breaker().Record(config, false, CircuitBreaker::Admission::kAllowed, clock_.Now());
  }
  const KeyStatus status = key_.Status(config, clock_.Now());
  EXPECT_EQ(status.state, "circuit_open");
  EXPECT_EQ(status.limits.rpm, 10u);
  EXPECT_DOUBLE_EQ(status.rpm_available, 10);
  EXPECT_DOUBLE_EQ(status.tpm_available, -1);
  EXPECT_DOUBLE_EQ(status.itpm_available, 100);
}

TEST_F(KeyStateTest, HeadroomIsReadWithoutTheLockAsLastSeen) {
  EXPECT_EQ(key_.Headroom(clock_.Now()), 1);
  // Running low (under 10% left until the reset in 30 s): half.
  key_.Learn(Headers({{"anthropic-ratelimit-requests-limit", "50"},
                      {"anthropic-ratelimit-requests-remaining", "4"},
                      {"anthropic-ratelimit-requests-reset", Rfc3339At(30)}}),
             clock_, kFallback);
  EXPECT_EQ(key_.Headroom(clock_.Now()), 0.5);
  clock_.Advance(seconds(31));
  EXPECT_EQ(key_.Headroom(clock_.Now()), 1);
  // Buckets: the check that found none publishes until when.
  key_.SetLimits(KeyLimits{.rpm = 1}, clock_.Now());
  EXPECT_EQ(key_.TryAcquire(cost_, clock_.Now()).verdict, Verdict::kOk);
  EXPECT_EQ(key_.Check(cost_, clock_.Now()).verdict, Verdict::kLimited);
  EXPECT_EQ(key_.Headroom(clock_.Now()), 0);
  clock_.Advance(seconds(61));
  EXPECT_EQ(key_.Headroom(clock_.Now()), 1);
  // A 429 cools it; a disabled key has none.
  key_.OnRateLimited(Headers({{"retry-after", "5"}}), clock_, kFallback);
  EXPECT_EQ(key_.Headroom(clock_.Now()), 0);
  clock_.Advance(seconds(6));
  EXPECT_EQ(key_.Headroom(clock_.Now()), 1);
  key_.Disable("401 authentication_error", clock_.UnixMillis());
  EXPECT_EQ(key_.Headroom(clock_.Now()), 0);
}

}  // namespace
}  // namespace ccrelay::state
