// The control plane's HealthChecker on its own, against a fake upstream on 127.0.0.1: the
// snapshot it reads is the test's, so config changes (checks turned off and on again, a new key)
// are exact.
#include "controlplane/health/health_checker.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "gtest/gtest.h"

#include "dataplane/common/clock.h"
#include "dataplane/common/secret.h"
#include "tests/fakes/fake_upstream.h"

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
    deps.current = [this] {
      std::lock_guard<std::mutex> lock(mu_);
      return snapshot_;
    };
    deps.on_change = [this] { return ++version_; };
    deps.clock = &common::RealClock::Get();
    checker_ = std::make_unique<HealthChecker>(std::move(deps));
  }
  ~HealthCheckerTest() override { checker_->Stop(); }

  void SetConfig(uint32_t interval_ms, std::initializer_list<std::string> keys,
                 const std::string& base_url = "") {
    auto s = std::make_shared<ccrelay::v1::RoutingSnapshot>();
    s->mutable_health()->mutable_checks()->set_interval_ms(interval_ms);
    s->mutable_health()->mutable_checks()->set_timeout_ms(2000);
    s->mutable_health()->mutable_checks()->set_unhealthy_threshold(1);
    s->mutable_health()->mutable_checks()->set_healthy_threshold(1);
    ccrelay::v1::Provider* p = s->add_providers();
    p->set_name("a");
    p->set_type("anthropic");
    p->set_enabled(true);
    p->set_base_url(base_url.empty() ? fake_.base_url() : base_url);
    for (const std::string& k : keys) {
      ccrelay::v1::Key* key = p->add_keys();
      key->set_secret(k);
      key->set_fingerprint(common::FingerprintOf(k));
      key->set_enabled(true);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      snapshot_ = std::move(s);
    }
  }

  // Polls `checker_` (its verdicts are not tied to the fake's state changes).
  bool Eventually(const std::function<bool()>& pred) {
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) {
        return false;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return true;
  }

  CheckedHealth::State StateOf(const std::string& key) {
    return checker_->Get("a", common::FingerprintOf(key)).state();
  }

  FakeUpstream fake_;
  std::mutex mu_;
  std::shared_ptr<const ccrelay::v1::RoutingSnapshot> snapshot_;
  std::atomic<uint64_t> version_{0};
  std::unique_ptr<HealthChecker> checker_;
};

TEST_F(HealthCheckerTest, VerdictsGoIntoTheSnapshotAndLeaveWhenChecksAreTurnedOff) {
  SetConfig(100, {"sk-good", "sk-refused"});
  checker_->Start();
  ASSERT_TRUE(Eventually([&] {
    return StateOf("sk-good") == CheckedHealth::HEALTHY &&
           StateOf("sk-refused") == CheckedHealth::AUTH_FAILED;
  }));
  ASSERT_TRUE(Eventually([&] { return version_.load() >= 1; })) << "republished";
  ccrelay::v1::RoutingSnapshot copy = *snapshot_;
  checker_->Overlay(&copy);
  EXPECT_EQ(copy.providers(0).keys(0).health().state(), CheckedHealth::HEALTHY);
  EXPECT_EQ(copy.providers(0).keys(1).health().state(), CheckedHealth::AUTH_FAILED);
  EXPECT_EQ(copy.providers(0).keys(1).health().reason(), "HTTP 401 authentication_error");
  EXPECT_GT(copy.providers(0).keys(1).health().since_unix_ms(), 0);
  EXPECT_EQ(copy.providers(0).health().state(), CheckedHealth::HEALTHY) << "a key answered";
  // Rounds go on every interval.
  const size_t seen = fake_.request_count();
  ASSERT_TRUE(fake_.WaitForRequests(seen + 4, kTimeout));

  // Off: the verdicts go (republished), the probes stop.
  const uint64_t before_off = version_.load();
  SetConfig(0, {"sk-good", "sk-refused"});
  checker_->OnConfigChanged();
  ASSERT_TRUE(Eventually([&] { return StateOf("sk-refused") == CheckedHealth::UNKNOWN; }));
  ASSERT_TRUE(Eventually([&] { return version_.load() > before_off; }));
  copy = *snapshot_;
  checker_->Overlay(&copy);
  EXPECT_FALSE(copy.providers(0).keys(1).has_health());
  std::this_thread::sleep_for(milliseconds(300));  // probes in flight end
  const size_t after_off = fake_.request_count();
  std::this_thread::sleep_for(milliseconds(300));  // three intervals of the old setting
  EXPECT_EQ(fake_.request_count(), after_off) << "no probe while the checks are off";

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
  checker_->Start();
  ASSERT_TRUE(Eventually([&] { return StateOf("sk-good") == CheckedHealth::HEALTHY; }));
  ASSERT_EQ(fake_.request_count(), 1u);
  // Just probed: a report now waits for the next round.
  checker_->CheckSoon("a", common::FingerprintOf("sk-good"));
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(fake_.request_count(), 1u);
  std::this_thread::sleep_for(HealthChecker::kMinEarlyGap);
  checker_->CheckSoon("a", common::FingerprintOf("sk-good"));
  EXPECT_TRUE(fake_.WaitForRequests(2, kTimeout)) << "checked at once, not in a minute";
  // An unknown key (removed meanwhile) is ignored.
  checker_->CheckSoon("a", "00000000");
  checker_->CheckSoon("nope", "");
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(fake_.request_count(), 2u);
  // A report about the provider as a whole (its breaker) checks each of its keys.
  std::this_thread::sleep_for(HealthChecker::kMinEarlyGap);
  checker_->CheckSoon("a", "");
  EXPECT_TRUE(fake_.WaitForRequests(3, kTimeout));
}

TEST_F(HealthCheckerTest, AProviderThatMovesIsCheckedAgainAtOnce) {
  SetConfig(60000, {"sk-good"});
  checker_->Start();
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
