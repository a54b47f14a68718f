#include "controlplane/health/health_checker.h"

#include <chrono>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/health_check_snapshot.h"

namespace ccrelay::controlplane {
namespace {

using Kind = ProbeVerdict::Kind;
using ccrelay::v1::CheckedHealth;

ProbeResult Answer(int status, std::string error_type = "") {
  ProbeResult r;
  r.status = status;
  r.error_type = std::move(error_type);
  return r;
}

TEST(ClassifyProbeTest, AnswersAndFailures) {
  EXPECT_EQ(ClassifyProbe(Answer(200), true).kind, Kind::kOk);
  EXPECT_EQ(ClassifyProbe(Answer(200), true).reason, "HTTP 200");
  // A live upstream without the models endpoint says nothing against the key.
  EXPECT_EQ(ClassifyProbe(Answer(404, "not_found_error"), true).kind, Kind::kOk);
  // Rate limited: the key is valid.
  EXPECT_EQ(ClassifyProbe(Answer(429, "rate_limit_error"), true).kind, Kind::kOk);
  const ProbeVerdict refused = ClassifyProbe(Answer(401, "authentication_error"), true);
  EXPECT_EQ(refused.kind, Kind::kAuthFailed);
  EXPECT_EQ(refused.reason, "HTTP 401 authentication_error");
  EXPECT_EQ(ClassifyProbe(Answer(403, "permission_error"), true).kind, Kind::kAuthFailed);
  // Without a key a 401 only proves the upstream is there (passthrough providers).
  EXPECT_EQ(ClassifyProbe(Answer(401), false).kind, Kind::kOk);
  EXPECT_EQ(ClassifyProbe(Answer(500), true).kind, Kind::kFailure);
  EXPECT_EQ(ClassifyProbe(Answer(529, "overloaded_error"), true).kind, Kind::kFailure);
  ProbeResult refused_conn;
  refused_conn.error = "connect: Connection refused";
  const ProbeVerdict failed = ClassifyProbe(refused_conn, true);
  EXPECT_EQ(failed.kind, Kind::kFailure);
  EXPECT_EQ(failed.reason, "connect: Connection refused");
}

ccrelay::v1::HealthChecks Thresholds(uint32_t unhealthy, uint32_t healthy) {
  ccrelay::v1::HealthChecks c;
  c.set_interval_ms(1000);
  c.set_unhealthy_threshold(unhealthy);
  c.set_healthy_threshold(healthy);
  return c;
}

TEST(TargetHealthTest, ThresholdsDecideTransitions) {
  const auto config = Thresholds(2, 2);
  TargetHealth t;
  EXPECT_EQ(t.published.state(), CheckedHealth::UNKNOWN);
  EXPECT_TRUE(t.Record({Kind::kOk, "HTTP 200"}, config, 100));  // the first answer counts at once
  EXPECT_EQ(t.published.state(), CheckedHealth::HEALTHY);
  EXPECT_EQ(t.published.since_unix_ms(), 100);
  EXPECT_FALSE(t.Record({Kind::kFailure, "timeout"}, config, 200));  // one failure is not enough
  EXPECT_EQ(t.published.state(), CheckedHealth::HEALTHY);
  EXPECT_FALSE(t.Record({Kind::kOk, "HTTP 200"}, config, 300));  // the run is broken
  EXPECT_FALSE(t.Record({Kind::kFailure, "timeout"}, config, 400));
  EXPECT_TRUE(t.Record({Kind::kFailure, "HTTP 503"}, config, 500));
  EXPECT_EQ(t.published.state(), CheckedHealth::UNHEALTHY);
  EXPECT_EQ(t.published.reason(), "HTTP 503");
  EXPECT_EQ(t.published.since_unix_ms(), 500);
  EXPECT_FALSE(t.Record({Kind::kFailure, "HTTP 502"}, config, 600));  // same state: no change
  EXPECT_EQ(t.published.reason(), "HTTP 503");
  EXPECT_FALSE(t.Record({Kind::kOk, "HTTP 200"}, config, 700));  // healthy_threshold 2
  EXPECT_TRUE(t.Record({Kind::kOk, "HTTP 200"}, config, 800));
  EXPECT_EQ(t.published.state(), CheckedHealth::HEALTHY);
  EXPECT_EQ(t.published.since_unix_ms(), 800);
}

TEST(TargetHealthTest, RefusedKeyIsMarkedAtOnce) {
  const auto config = Thresholds(3, 1);
  TargetHealth t;
  EXPECT_TRUE(t.Record({Kind::kAuthFailed, "HTTP 401 authentication_error"}, config, 10));
  EXPECT_EQ(t.published.state(), CheckedHealth::AUTH_FAILED);
  EXPECT_FALSE(t.Record({Kind::kAuthFailed, "HTTP 401 authentication_error"}, config, 20));
  EXPECT_TRUE(t.Record({Kind::kOk, "HTTP 200"}, config, 30));
  EXPECT_EQ(t.published.state(), CheckedHealth::HEALTHY);
}

// ---- The schedule, on a fake clock, with scripted probes (no network, no thread) -------------

// Holds each probe the checker starts until the test answers it.
class ScriptedProbe {
 public:
  HealthChecker::ProbeFn Fn() {
    return [this](boost::asio::io_context&, const ProbeRequest& request,
                  std::function<void(ProbeResult)> done) {
      started_.push_back(KeyOf(request));
      open_.push_back(std::move(done));
    };
  }

  // Keys of the probes started so far, in order ("" for a probe without a key).
  const std::vector<std::string>& Started() const { return started_; }
  size_t Open() const { return open_.size(); }
  // Answers the oldest open probe with an HTTP status, or no answer at all (status 0).
  void Answer(int status) {
    ASSERT_FALSE(open_.empty());
    ProbeResult r;
    r.status = status;
    r.error = status == 0 ? "connect: Connection refused" : "";
    std::function<void(ProbeResult)> done = std::move(open_.front());
    open_.pop_front();
    done(std::move(r));
  }

 private:
  static std::string KeyOf(const ProbeRequest& request) { return request.key; }

  std::vector<std::string> started_;
  std::deque<std::function<void(ProbeResult)>> open_;  // their `done`, oldest first
};

constexpr std::chrono::milliseconds kInterval{10000};

class HealthCheckerScheduleTest : public ::testing::Test {
 protected:
  HealthCheckerScheduleTest() {
    HealthChecker::Deps deps;
    deps.current = [this] { return snapshot_; };
    deps.on_change = [this] { return ++version_; };
    deps.clock = &clock_;
    deps.probe = probe_.Fn();
    checker_ = std::make_unique<HealthChecker>(std::move(deps));
  }

  // Provider "a" (anthropic: one probe per key) with `keys`.
  void SetConfig(std::chrono::milliseconds interval, std::initializer_list<std::string> keys,
                 uint32_t unhealthy_threshold = 1, uint32_t healthy_threshold = 1) {
    // The base URL is never dialled: the probe is scripted.
    auto s = testing::HealthCheckSnapshot(static_cast<uint32_t>(interval.count()),
                                          "http://127.0.0.1:9", keys);
    s->mutable_health()->mutable_checks()->set_unhealthy_threshold(unhealthy_threshold);
    s->mutable_health()->mutable_checks()->set_healthy_threshold(healthy_threshold);
    snapshot_ = std::move(s);
  }

  // Moves the clock on and runs what is due.
  void Advance(std::chrono::milliseconds d) {
    clock_.Advance(d);
    checker_->RunForTest();
  }
  // Answers the oldest open probe and runs what follows.
  void Answer(int status) {
    probe_.Answer(status);
    checker_->RunForTest();
  }
  CheckedHealth::State StateOf(const std::string& key) {
    return checker_->Get("a", common::FingerprintOf(key)).state();
  }

  testing::FakeClock clock_;
  ScriptedProbe probe_;
  std::shared_ptr<const ccrelay::v1::RoutingSnapshot> snapshot_;
  uint64_t version_ = 0;
  std::unique_ptr<HealthChecker> checker_;
};

TEST_F(HealthCheckerScheduleTest, FirstRoundAtOnceThenOnePerInterval) {
  SetConfig(kInterval, {"sk-1"});
  checker_->RunForTest();
  ASSERT_EQ(probe_.Started().size(), 1u);
  EXPECT_EQ(probe_.Started()[0], "sk-1");
  Answer(200);
  EXPECT_EQ(StateOf("sk-1"), CheckedHealth::HEALTHY);
  EXPECT_EQ(version_, 1u) << "the first verdict is republished";

  Advance(kInterval - std::chrono::milliseconds(1));
  EXPECT_EQ(probe_.Started().size(), 1u) << "not before the interval";
  Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(probe_.Started().size(), 2u);
  // The interval runs from the start of a round, not from its answers.
  Advance(kInterval / 2);
  Answer(200);
  Advance(kInterval / 2);
  EXPECT_EQ(probe_.Started().size(), 3u);
  EXPECT_EQ(version_, 1u) << "an unchanged verdict is not republished";
}

TEST_F(HealthCheckerScheduleTest, ProbeStillInFlightIsNotStartedAgain) {
  SetConfig(kInterval, {"sk-1"});
  checker_->RunForTest();
  Advance(kInterval);
  Advance(kInterval);
  EXPECT_EQ(probe_.Started().size(), 1u);
  Answer(200);
  EXPECT_EQ(probe_.Started().size(), 1u) << "the answer does not start a round";
  Advance(kInterval);
  EXPECT_EQ(probe_.Started().size(), 2u);
}

TEST_F(HealthCheckerScheduleTest, UnhealthyAfterThresholdFailuresHealthyAfterThresholdAnswers) {
  SetConfig(kInterval, {"sk-1"}, /*unhealthy_threshold=*/3, /*healthy_threshold=*/2);
  checker_->RunForTest();
  Answer(200);
  ASSERT_EQ(StateOf("sk-1"), CheckedHealth::HEALTHY);
  for (int round = 1; round <= 2; ++round) {
    Advance(kInterval);
    Answer(0);
    EXPECT_EQ(StateOf("sk-1"), CheckedHealth::HEALTHY) << "failure " << round;
  }
  Advance(kInterval);
  Answer(503);
  EXPECT_EQ(StateOf("sk-1"), CheckedHealth::UNHEALTHY);
  EXPECT_EQ(checker_->Get("a", common::FingerprintOf("sk-1")).since_unix_ms(), clock_.UnixMillis());
  EXPECT_EQ(version_, 2u);

  Advance(kInterval);
  Answer(200);
  EXPECT_EQ(StateOf("sk-1"), CheckedHealth::UNHEALTHY) << "one answer is not enough";
  Advance(kInterval);
  Answer(200);
  EXPECT_EQ(StateOf("sk-1"), CheckedHealth::HEALTHY);
  EXPECT_EQ(version_, 3u);
  EXPECT_EQ(probe_.Started().size(), 6u) << "one probe per round";
  const HealthChecker::Counts counts = checker_->counts();
  EXPECT_EQ(counts.ok, 3u);
  EXPECT_EQ(counts.failure, 3u);
}

TEST_F(HealthCheckerScheduleTest, ReportGetsAnEarlyCheckOnlyAfterTheMinimumGap) {
  SetConfig(std::chrono::minutes(1), {"sk-1", "sk-2"});
  checker_->RunForTest();
  Answer(200);
  Answer(200);
  ASSERT_EQ(probe_.Started().size(), 2u);

  // Just probed: a report waits for the next round.
  Advance(HealthChecker::kMinEarlyGap - std::chrono::milliseconds(1));
  checker_->CheckSoon("a", common::FingerprintOf("sk-1"));
  checker_->RunForTest();
  EXPECT_EQ(probe_.Started().size(), 2u);

  Advance(std::chrono::milliseconds(1));
  checker_->CheckSoon("a", common::FingerprintOf("sk-1"));
  checker_->RunForTest();
  ASSERT_EQ(probe_.Started().size(), 3u) << "checked at once, not in a minute";
  EXPECT_EQ(probe_.Started()[2], "sk-1");
  // Being checked: another report adds nothing.
  Advance(HealthChecker::kMinEarlyGap);
  checker_->CheckSoon("a", common::FingerprintOf("sk-1"));
  checker_->RunForTest();
  EXPECT_EQ(probe_.Started().size(), 3u);
  Answer(200);

  // Unknown targets are ignored.
  checker_->CheckSoon("a", "00000000");
  checker_->CheckSoon("nope", "");
  checker_->RunForTest();
  EXPECT_EQ(probe_.Started().size(), 3u);
  // A report about the provider as a whole (its breaker) checks each of its keys.
  checker_->CheckSoon("a", "");
  checker_->RunForTest();
  EXPECT_EQ(probe_.Started().size(), 5u);
  Answer(200);
  Answer(200);

  // Early checks do not move the rounds.
  Advance(std::chrono::minutes(1) - HealthChecker::kMinEarlyGap * 2 - std::chrono::milliseconds(1));
  EXPECT_EQ(probe_.Started().size(), 5u);
  Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(probe_.Started().size(), 7u);
}

TEST_F(HealthCheckerScheduleTest, ChecksTurnedOffStopProbingAndDropVerdicts) {
  SetConfig(kInterval, {"sk-1"});
  checker_->RunForTest();
  Answer(200);
  ASSERT_EQ(StateOf("sk-1"), CheckedHealth::HEALTHY);

  SetConfig(std::chrono::milliseconds(0), {"sk-1"});
  checker_->OnConfigChanged();
  checker_->RunForTest();
  EXPECT_EQ(StateOf("sk-1"), CheckedHealth::UNKNOWN);
  EXPECT_EQ(version_, 2u) << "the verdicts left the snapshot";
  Advance(kInterval * 10);
  checker_->CheckSoon("a", common::FingerprintOf("sk-1"));
  checker_->RunForTest();
  EXPECT_EQ(probe_.Started().size(), 1u) << "no probe while the checks are off";

  // On again: every target is checked at once, then on the new interval.
  SetConfig(kInterval * 2, {"sk-1", "sk-2"});
  checker_->OnConfigChanged();
  checker_->RunForTest();
  EXPECT_EQ(probe_.Started().size(), 3u);
  Answer(200);
  Answer(200);
  Advance(kInterval * 2 - std::chrono::milliseconds(1));
  EXPECT_EQ(probe_.Started().size(), 3u);
  Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(probe_.Started().size(), 5u);
}

TEST_F(HealthCheckerScheduleTest, ConfigChangeChecksNewTargetsAndKeepsTheRound) {
  SetConfig(kInterval, {"sk-1"});
  checker_->RunForTest();
  Answer(200);
  Advance(kInterval / 2);
  SetConfig(kInterval, {"sk-1", "sk-2"});
  checker_->OnConfigChanged();
  checker_->RunForTest();
  ASSERT_EQ(probe_.Started().size(), 2u) << "only the new key";
  EXPECT_EQ(probe_.Started()[1], "sk-2");
  Answer(200);
  Advance(kInterval / 2);
  EXPECT_EQ(probe_.Started().size(), 4u) << "the round is due when it was";

  // A new interval checks everything at once and counts from there.
  Answer(200);
  Answer(200);
  SetConfig(kInterval / 5, {"sk-1", "sk-2"});
  checker_->OnConfigChanged();
  checker_->RunForTest();
  EXPECT_EQ(probe_.Started().size(), 6u);
  Answer(200);
  Answer(200);
  Advance(kInterval / 5);
  EXPECT_EQ(probe_.Started().size(), 8u);
}

TEST_F(HealthCheckerScheduleTest, AtMostMaxInFlightAndOneRepublishPerBurst) {
  SetConfig(kInterval,
            {"sk-0", "sk-1", "sk-2", "sk-3", "sk-4", "sk-5", "sk-6", "sk-7", "sk-8", "sk-9"});
  checker_->RunForTest();
  EXPECT_EQ(probe_.Started().size(), HealthChecker::kMaxInFlight);
  Answer(200);
  EXPECT_EQ(probe_.Started().size(), HealthChecker::kMaxInFlight + 1) << "one ends, one starts";
  EXPECT_EQ(version_, 0u) << "not while probes are in flight";
  while (probe_.Open() > 0) {
    Answer(200);
  }
  EXPECT_EQ(probe_.Started().size(), 10u);
  EXPECT_EQ(version_, 1u) << "one republish for the whole round";
}

}  // namespace
}  // namespace ccrelay::controlplane
