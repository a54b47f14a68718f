#include "dataplane/state/circuit_breaker.h"

#include "gtest/gtest.h"

#include "tests/fakes/fake_clock.h"

namespace ccrelay::state {
namespace {

using Admission = CircuitBreaker::Admission;
using State = CircuitBreaker::State;
using Transition = CircuitBreaker::Transition;
using std::chrono::milliseconds;
using std::chrono::seconds;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  void Fail(int n) {
    for (int i = 0; i < n; ++i) {
      last_ = breaker_.Record(config_, false, Admission::kAllowed, clock_.Now());
    }
  }
  void Succeed(int n) {
    for (int i = 0; i < n; ++i) {
      last_ = breaker_.Record(config_, true, Admission::kAllowed, clock_.Now());
    }
  }

  BreakerConfig config_;
  CircuitBreaker breaker_;
  testing::FakeClock clock_;
  Transition last_ = Transition::kNone;
};

TEST_F(CircuitBreakerTest, ConsecutiveFailuresOpenIt) {
  Fail(4);
  EXPECT_EQ(last_, Transition::kNone);
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kClosed);
  Fail(1);
  EXPECT_EQ(last_, Transition::kOpened);
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kOpen);
  EXPECT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kDenied);
  EXPECT_FALSE(breaker_.WouldAdmit(config_, clock_.Now()));
}

TEST_F(CircuitBreakerTest, ASuccessResetsTheConsecutiveCount) {
  Fail(4);
  Succeed(1);
  Fail(4);
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kClosed);
}

TEST_F(CircuitBreakerTest, FailureRatioOverTheWindowOpensIt) {
  config_.failure_threshold = 100;  // only the ratio
  // Alternating: 50% failures, never 2 in a row.
  for (int i = 0; i < 4; ++i) {
    Succeed(1);
    Fail(1);
  }
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kClosed) << "8 < min_requests";
  Succeed(1);
  Fail(1);
  EXPECT_EQ(last_, Transition::kOpened) << "5 of 10 failed";
}

TEST_F(CircuitBreakerTest, OldOutcomesLeaveTheWindow) {
  config_.failure_threshold = 100;
  // 5 failures and 4 successes: one more failure now would make 6 of 10.
  for (int i = 0; i < 4; ++i) {
    Fail(1);
    Succeed(1);
  }
  Fail(1);
  clock_.Advance(seconds(31));  // all of that is older than the 30 s window
  Fail(1);
  EXPECT_EQ(last_, Transition::kNone);
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kClosed);
}

TEST_F(CircuitBreakerTest, HalfOpenAfterOpenMsLetsOneProbeThrough) {
  Fail(5);
  clock_.Advance(milliseconds(29999));
  EXPECT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kDenied);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kHalfOpen);
  EXPECT_TRUE(breaker_.WouldAdmit(config_, clock_.Now()));
  EXPECT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kProbe);
  EXPECT_FALSE(breaker_.WouldAdmit(config_, clock_.Now())) << "one probe in flight";
  EXPECT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kDenied);
}

TEST_F(CircuitBreakerTest, ProbeSuccessClosesIt) {
  Fail(5);
  clock_.Advance(seconds(30));
  ASSERT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kProbe);
  EXPECT_EQ(breaker_.Record(config_, true, Admission::kProbe, clock_.Now()), Transition::kClosed);
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kClosed);
  EXPECT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kAllowed);
  Fail(4);
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kClosed) << "history was cleared";
}

TEST_F(CircuitBreakerTest, ProbeFailureReopensForAnotherOpenPeriod) {
  Fail(5);
  clock_.Advance(seconds(30));
  ASSERT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kProbe);
  EXPECT_EQ(breaker_.Record(config_, false, Admission::kProbe, clock_.Now()),
            Transition::kReopened);
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kOpen);
  EXPECT_EQ(breaker_.opened_at(), clock_.Now());
  clock_.Advance(seconds(30));
  EXPECT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kProbe);
}

TEST_F(CircuitBreakerTest, ReleasedProbeFreesTheSlot) {
  Fail(5);
  clock_.Advance(seconds(30));
  ASSERT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kProbe);
  breaker_.ReleaseProbe();
  EXPECT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kProbe);
}

TEST_F(CircuitBreakerTest, SeveralProbesWhenConfigured) {
  config_.half_open_probes = 2;
  Fail(5);
  clock_.Advance(seconds(30));
  EXPECT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kProbe);
  EXPECT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kProbe);
  EXPECT_EQ(breaker_.TryAcquire(config_, clock_.Now()), Admission::kDenied);
}

TEST_F(CircuitBreakerTest, OutcomesOfRequestsStartedBeforeOpeningAreIgnored) {
  Fail(5);
  EXPECT_EQ(breaker_.Record(config_, true, Admission::kAllowed, clock_.Now()), Transition::kNone);
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kOpen);
}

TEST_F(CircuitBreakerTest, ForcedSuccessClosesAnOpenBreaker) {
  Fail(5);
  EXPECT_EQ(breaker_.Record(config_, true, Admission::kForced, clock_.Now()), Transition::kClosed);
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kClosed);
}

TEST_F(CircuitBreakerTest, ForcedFailureRestartsTheOpenPeriod) {
  Fail(5);
  clock_.Advance(seconds(20));
  EXPECT_EQ(breaker_.Record(config_, false, Admission::kForced, clock_.Now()),
            Transition::kReopened);
  clock_.Advance(seconds(20));
  EXPECT_EQ(breaker_.state(config_, clock_.Now()), State::kOpen) << "open since the forced try";
}

}  // namespace
}  // namespace ccrelay::state
