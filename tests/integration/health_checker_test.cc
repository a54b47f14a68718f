// The control plane's HealthChecker on its own, against a fake upstream on 127.0.0.1: the
// snapshot it reads is the test's, so config changes (checks turned off and on again, a new key)
// are exact. Its schedule runs on a fake clock, on the test's thread; only the probes take real
// time.
#include "controlplane/health/health_checker.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/health_check_snapshot.h"

namespace ccrelay::controlplane {
namespace {

using ccrelay::v1::CheckedHealth;
using std::chrono::milliseconds;
using testing::FakeUpstream;

constexpr milliseconds kTimeout{5000};

class HealthCheckerTest : public ::testing::Test {
 protected:
  HealthCheckerTest() {
    fake_.SetHandler([](const testing::RecordedRequest& req, testing::Responder& r) {
      const bool refused = req.Header("x-api-key") == "sk-refused";
      r.Respond(refused ? 401 : 200, {{"content-type", "application/json"}},
                refused ? testing::AnthropicErrorJson("authentication_error", "invalid x-api-key")
                        : std::string(R"({"data":[],"has_more":false})"));
    });
    HealthChecker::Deps deps;
    deps.current = [this] { return snapshot_; };
    deps.on_change = [this] { return ++version_; };
    deps.clock = &clock_;
    deps.probe = [this](boost::asio::io_context& ioc, ProbeRequest request,
                        std::function<void(ProbeResult)> done) {
      ++started_;
      StartProbe(ioc, std::move(request), std::move(done));
    };
    checker_ = std::make_unique<HealthChecker>(std::move(deps));
  }

  void SetConfig(uint32_t interval_ms, std::initializer_list<std::string> keys,
                 const std::string& base_url = "") {
    snapshot_ = testing::HealthCheckSnapshot(interval_ms,
                                             base_url.empty() ? fake_.base_url() : base_url, keys);
  }

  // Runs the checker (what is due by the clock, then the probes) until `pred` holds.
  bool Eventually(const std::function<bool()>& pred) {
    return checker_->RunUntilForTest(pred, kTimeout);
  }
  bool ProbesEnded() {
    const HealthChecker::Counts c = checker_->counts();
    return c.ok + c.failure + c.auth_failed == started_;
  }

  CheckedHealth::State StateOf(const std::string& key) {
    return checker_->Get("a", common::FingerprintOf(key)).state();
  }

  FakeUpstream fake_;
  testing::FakeClock clock_;
  std::shared_ptr<const ccrelay::v1::RoutingSnapshot> snapshot_;
  uint64_t version_ = 0;
  size_t started_ = 0;  // probes
  std::unique_ptr<HealthChecker> checker_;
};

TEST_F(HealthCheckerTest, VerdictsGoIntoTheSnapshotAndLeaveWhenChecksAreTurnedOff) {
  SetConfig(100, {"sk-good", "sk-refused"});
  ASSERT_TRUE(Eventually([&] {
    return StateOf("sk-good") == CheckedHealth::HEALTHY &&
           StateOf("sk-refused") == CheckedHealth::AUTH_FAILED;
  }));
  ASSERT_TRUE(Eventually([&] { return version_ >= 1; })) << "republished";
  ccrelay::v1::RoutingSnapshot copy = *snapshot_;
  checker_->Overlay(&copy);
  EXPECT_EQ(copy.providers(0).keys(0).health().state(), CheckedHealth::HEALTHY);
  EXPECT_EQ(copy.providers(0).keys(1).health().state(), CheckedHealth::AUTH_FAILED);
  EXPECT_EQ(copy.providers(0).keys(1).health().reason(), "HTTP 401 authentication_error");
  EXPECT_GT(copy.providers(0).keys(1).health().since_unix_ms(), 0);
  EXPECT_EQ(copy.providers(0).health().state(), CheckedHealth::HEALTHY) << "a key answered";
  // Rounds go on every interval (a probe still in flight is not started again: let each end).
  const size_t seen = fake_.request_count();
  ASSERT_TRUE(Eventually([&] { return ProbesEnded(); }));
  clock_.Advance(milliseconds(100));
  ASSERT_TRUE(Eventually([&] { return fake_.request_count() >= seen + 2 && ProbesEnded(); }));
  clock_.Advance(milliseconds(100));
  ASSERT_TRUE(Eventually([&] { return fake_.request_count() >= seen + 4 && ProbesEnded(); }));

  // Off: the verdicts go (republished), the probes stop.
  const uint64_t before_off = version_;
  SetConfig(0, {"sk-good", "sk-refused"});
  checker_->OnConfigChanged();
  ASSERT_TRUE(Eventually([&] { return StateOf("sk-refused") == CheckedHealth::UNKNOWN; }));
  ASSERT_TRUE(Eventually([&] { return version_ > before_off; }));
  copy = *snapshot_;
  checker_->Overlay(&copy);
  EXPECT_FALSE(copy.providers(0).keys(1).has_health());
  const size_t after_off = fake_.request_count();
  const size_t started_before_off = started_;
  clock_.Advance(milliseconds(300));  // three intervals of the old setting
  checker_->RunForTest();
  EXPECT_EQ(started_, started_before_off) << "no probe while the checks are off";
  EXPECT_EQ(fake_.request_count(), after_off);

  // On again, with a new key: every key is checked at once.
  SetConfig(60000, {"sk-good", "sk-refused", "sk-new"});
  checker_->OnConfigChanged();
  ASSERT_TRUE(Eventually([&] {
    return StateOf("sk-good") == CheckedHealth::HEALTHY &&
           StateOf("sk-refused") == CheckedHealth::AUTH_FAILED &&
           StateOf("sk-new") == CheckedHealth::HEALTHY;
  }));
  const HealthChecker::Counts counts = checker_->counts();
  EXPECT_GE(counts.ok, 4u);
  EXPECT_GE(counts.auth_failed, 2u);
  EXPECT_EQ(counts.failure, 0u);
}

TEST_F(HealthCheckerTest, EarlyCheckFollowsAReportButNotTooOften) {
  SetConfig(60000, {"sk-good"});
  ASSERT_TRUE(Eventually([&] { return StateOf("sk-good") == CheckedHealth::HEALTHY; }));
  ASSERT_EQ(fake_.request_count(), 1u);
  // Just probed: a report now waits for the next round.
  checker_->CheckSoon("a", common::FingerprintOf("sk-good"));
  checker_->RunForTest();
  EXPECT_EQ(started_, 1u);
  EXPECT_EQ(fake_.request_count(), 1u);
  clock_.Advance(HealthChecker::kMinEarlyGap);
  checker_->CheckSoon("a", common::FingerprintOf("sk-good"));
  EXPECT_TRUE(Eventually([&] { return fake_.request_count() >= 2; }))
      << "checked at once, not in a minute";
  ASSERT_TRUE(Eventually([&] { return ProbesEnded(); }));
  // An unknown key (removed meanwhile) is ignored.
  checker_->CheckSoon("a", "00000000");
  checker_->CheckSoon("nope", "");
  checker_->RunForTest();
  EXPECT_EQ(started_, 2u);
  EXPECT_EQ(fake_.request_count(), 2u);
  // A report about the provider as a whole (its breaker) checks each of its keys.
  clock_.Advance(HealthChecker::kMinEarlyGap);
  checker_->CheckSoon("a", "");
  EXPECT_TRUE(Eventually([&] { return fake_.request_count() >= 3; }));
}

TEST_F(HealthCheckerTest, AProviderThatMovesIsCheckedAgainAtOnce) {
  SetConfig(60000, {"sk-good"});
  ASSERT_TRUE(Eventually([&] { return StateOf("sk-good") == CheckedHealth::HEALTHY; }));
  // Same key, another endpoint (nothing listens there): the old verdict does not carry over.
  SetConfig(60000, {"sk-good"}, "http://127.0.0.1:" + std::to_string(testing::UnusedPort()));
  checker_->OnConfigChanged();
  ASSERT_TRUE(Eventually([&] { return StateOf("sk-good") == CheckedHealth::UNHEALTHY; }));
  EXPECT_NE(checker_->Get("a", common::FingerprintOf("sk-good")).reason().find("connect"),
            std::string::npos);
}

}  // namespace
}  // namespace ccrelay::controlplane
