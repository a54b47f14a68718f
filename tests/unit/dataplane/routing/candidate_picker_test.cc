#include "dataplane/routing/candidate_picker.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

#include "dataplane/routing/routing_table.h"
#include "tests/fakes/fake_clock.h"

namespace ccrelay::routing {
namespace {

using After = CandidatePicker::After;
using Admission = state::CircuitBreaker::Admission;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct KeySpec {
  std::string secret;
  uint32_t rpm = 0;
  uint32_t itpm = 0;
  // The control plane's health check verdict carried by the snapshot.
  v1::CheckedHealth::State check = v1::CheckedHealth::UNKNOWN;
  int64_t check_since_unix_ms = 0;
  int64_t expires_unix_ms = 0;  // a minted credential's expiry (0: none)
};

class CandidatePickerTest : public ::testing::Test {
 protected:
  // Providers named p0, p1, ... each with the given keys (none: passthrough).
  void Build(const std::vector<std::vector<KeySpec>>& providers, bool affinity = true) {
    v1::RoutingSnapshot s;
    s.set_version(1);
    for (size_t i = 0; i < providers.size(); ++i) {
      auto* p = s.add_providers();
      p->set_name("p" + std::to_string(i));
      p->set_type("anthropic");
      p->set_enabled(true);
      p->set_base_url("http://127.0.0.1:" + std::to_string(9000 + i));
      for (const KeySpec& k : providers[i]) {
        auto* key = p->add_keys();
        key->set_secret(k.secret);
        key->set_enabled(true);
        key->set_weight(1);
        key->set_rpm_limit(k.rpm);
        key->set_itpm_limit(k.itpm);
        key->mutable_health()->set_state(k.check);
        key->mutable_health()->set_since_unix_ms(k.check_since_unix_ms);
        key->set_expires_unix_ms(k.expires_unix_ms);
      }
      if (auto it = provider_checks_.find(i); it != provider_checks_.end()) {
        p->mutable_health()->set_state(it->second);
      }
    }
    s.mutable_routing()->set_strategy("failover");
    s.mutable_routing()->set_session_affinity(affinity);
    s.mutable_routing()->set_failover_primary("p0");
    for (size_t i = 1; i < providers.size(); ++i) {
      s.mutable_routing()->add_failover_fallbacks("p" + std::to_string(i));
    }
    auto table = CompileRoutingTable(s, states_, &clock_);
    ASSERT_TRUE(table.ok()) << table.status();
    table_ = *table;
    ranked_.clear();
    for (uint32_t i = 0; i < providers.size(); ++i) {
      ranked_.push_back(i);
    }
  }

  CandidatePicker Picker(std::string session = "", int64_t input_tokens = 100) {
    return CandidatePicker(*table_, ranked_, state::RequestCost{true, input_tokens},
                           std::move(session), clock_);
  }

  std::string Secret(const Candidate& c) const {
    return c.key < 0 ? "-"
                     : std::string(table_->providers[c.provider]
                                       .keys[static_cast<size_t>(c.key)]
                                       .secret.Reveal());
  }

  // One whole request answered `status`: returns the secret of the key used.
  std::string Serve(const std::string& session, int status = 200) {
    CandidatePicker picker = Picker(session);
    Candidate c;
    EXPECT_TRUE(picker.Next(After::kStart, &c));
    picker.OnResponse(c, status, state::UpstreamLimits{});
    return Secret(c);
  }

  state::KeyState& KeyOf(uint32_t provider, size_t key) {
    return *table_->providers[provider].keys[key].state;
  }

  std::map<size_t, v1::CheckedHealth::State> provider_checks_;  // by provider index
  testing::FakeClock clock_;
  state::StateRegistry states_;
  RoutingTableConstSharedPtr table_;
  std::vector<uint32_t> ranked_;
};

TEST_F(CandidatePickerTest, SpreadsRequestsOverTheKeysOfAProvider) {
  Build({{{"k1"}, {"k2"}, {"k3"}}});
  std::map<std::string, int> uses;
  for (int i = 0; i < 9; ++i) {
    ++uses[Serve("")];
  }
  EXPECT_EQ(uses, (std::map<std::string, int>{{"k1", 3}, {"k2", 3}, {"k3", 3}}));
}

TEST_F(CandidatePickerTest, KeyWithoutHeadroomIsNotChosen) {
  Build({{{"k1", 1}, {"k2"}}});
  EXPECT_EQ(Serve(""), "k1");  // takes k1's only request of the minute
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Serve(""), "k2");
  }
}

TEST_F(CandidatePickerTest, NoHeadroomAnywhereSaysWhenTheFirstKeyHasSome) {
  Build({{{"k1", 1}, {"k2", 2}}, {{"k3", 6}}});
  // Spend every request of every key.
  for (int i = 0; i < 9; ++i) {
    CandidatePicker picker = Picker();
    Candidate c;
    if (!picker.Next(After::kStart, &c)) {
      break;
    }
  }
  CandidatePicker picker = Picker();
  Candidate c;
  ASSERT_FALSE(picker.Next(After::kStart, &c));
  EXPECT_EQ(picker.why(), NoCandidate::kRateLimited);
  // k3 refills one request every 10 s, k2 every 30 s, k1 every 60 s.
  const auto wait = picker.retry_at() - clock_.Now();
  EXPECT_GT(wait, seconds(9));
  EXPECT_LE(wait, seconds(10) + milliseconds(1));
  clock_.Advance(wait);
  EXPECT_EQ(Serve(""), "k3");
}

TEST_F(CandidatePickerTest, KeyProblemTriesTheOtherKeysOfTheProviderFirst) {
  Build({{{"k1"}, {"k2"}}, {{"k3"}}});
  CandidatePicker picker = Picker();
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  const std::string first = Secret(c);
  state::UpstreamLimits limits;
  limits.Add("retry-after", "30", clock_.UnixMillis());
  const ResponseEffects effects = picker.OnResponse(c, 429, limits);
  EXPECT_TRUE(effects.key_cooled);
  EXPECT_EQ(effects.cooled_until - clock_.Now(), seconds(30));
  ASSERT_TRUE(picker.Next(After::kKeyProblem, &c));
  EXPECT_EQ(c.provider, 0u);
  EXPECT_NE(Secret(c), first);
  picker.OnResponse(c, 429, limits);
  ASSERT_TRUE(picker.Next(After::kKeyProblem, &c));
  EXPECT_EQ(Secret(c), "k3");
  picker.OnResponse(c, 429, limits);
  EXPECT_FALSE(picker.Next(After::kKeyProblem, &c));
}

TEST_F(CandidatePickerTest, CooledKeysAreSkippedByLaterRequests) {
  Build({{{"k1"}, {"k2"}}});
  CandidatePicker picker = Picker();
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  const std::string cooled = Secret(c);
  state::UpstreamLimits limits;
  limits.Add("retry-after", "20", clock_.UnixMillis());
  picker.OnResponse(c, 429, limits);
  for (int i = 0; i < 6; ++i) {
    EXPECT_NE(Serve(""), cooled);
  }
  clock_.Advance(seconds(20));
  std::set<std::string> used;
  for (int i = 0; i < 4; ++i) {
    used.insert(Serve(""));
  }
  EXPECT_EQ(used.size(), 2u) << "back in the rotation after retry-after";
}

TEST_F(CandidatePickerTest, ProviderFailureMovesToTheNextProvider) {
  Build({{{"k1"}, {"k2"}}, {{"k3"}}});
  CandidatePicker picker = Picker();
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  EXPECT_EQ(c.provider, 0u);
  picker.OnResponse(c, 503, state::UpstreamLimits{});
  ASSERT_TRUE(picker.Next(After::kProviderFailure, &c));
  EXPECT_EQ(c.provider, 1u);
  picker.OnTransportFailure(c);
  EXPECT_FALSE(picker.Next(After::kProviderFailure, &c));
}

TEST_F(CandidatePickerTest, OverloadedProviderIsRevisitedAfterAJitteredBackoff) {
  Build({{{"k1"}, {"k2"}}});
  CandidatePicker picker = Picker();
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  const std::string first = Secret(c);
  EXPECT_EQ(c.not_before, common::MonoTime{});
  const common::MonoTime answered = clock_.Now();
  picker.OnResponse(c, 529, state::UpstreamLimits{});
  ASSERT_TRUE(picker.Next(After::kOverloaded, &c));
  EXPECT_EQ(Secret(c), first) << "a 529 does not cool the key: same key, same prompt cache";
  EXPECT_GE(c.not_before - answered, milliseconds(50));
  EXPECT_LE(c.not_before - answered, milliseconds(250));
  EXPECT_EQ(KeyOf(0, 0).Check(picker.cost(), clock_.Now()).verdict, state::KeyCheck::Verdict::kOk);
}

TEST_F(CandidatePickerTest, OverloadGoesToAnotherProviderFirst) {
  Build({{{"k1"}}, {{"k2"}}});
  CandidatePicker picker = Picker();
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  picker.OnResponse(c, 529, state::UpstreamLimits{});
  ASSERT_TRUE(picker.Next(After::kOverloaded, &c));
  EXPECT_EQ(Secret(c), "k2");
  EXPECT_EQ(c.not_before, common::MonoTime{}) << "no backoff towards another provider";
}

TEST_F(CandidatePickerTest, RejectedKeyIsDisabledOnceAndNeverChosenAgain) {
  Build({{{"k1"}, {"k2"}}});
  CandidatePicker picker = Picker();
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  const std::string bad = Secret(c);
  EXPECT_TRUE(picker.OnResponse(c, 401, state::UpstreamLimits{}).key_disabled);
  ASSERT_TRUE(picker.Next(After::kKeyProblem, &c));
  EXPECT_NE(Secret(c), bad);
  EXPECT_TRUE(picker.OnResponse(c, 403, state::UpstreamLimits{}).key_disabled);
  CandidatePicker next = Picker();
  EXPECT_FALSE(next.Next(After::kStart, &c));
  EXPECT_EQ(next.why(), NoCandidate::kDisabled);
}

TEST_F(CandidatePickerTest, LowKeysAreRankedAfterKeysWithMoreRoom) {
  Build({{{"k1"}, {"k2"}}});
  state::UpstreamLimits low;
  const int64_t now_ms = clock_.UnixMillis();
  low.Add("anthropic-ratelimit-requests-limit", "100", now_ms);
  low.Add("anthropic-ratelimit-requests-remaining", "3", now_ms);
  low.Add("anthropic-ratelimit-requests-reset", "2027-01-15T08:00:30Z", now_ms);
  KeyOf(0, 0).Learn(low, clock_, seconds(10));
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(Serve(""), "k2");
  }
  clock_.Advance(seconds(30));
  std::set<std::string> used;
  for (int i = 0; i < 4; ++i) {
    used.insert(Serve(""));
  }
  EXPECT_EQ(used.size(), 2u);
}

TEST_F(CandidatePickerTest, ReportsKeysWithHeadroomAndTotal) {
  Build({{{"k1"}, {"k2", 1}, {"k3"}}});
  KeyOf(0, 2).Disable("test", 0);
  CandidatePicker first = Picker();
  Candidate c;
  ASSERT_TRUE(first.Next(After::kStart, &c));
  EXPECT_EQ(c.keys_total, 3u);
  EXPECT_EQ(c.keys_available, 2u);
  // Spend k2's only request, then count again.
  while (Secret(c) != "k2") {
    CandidatePicker again = Picker();
    ASSERT_TRUE(again.Next(After::kStart, &c));
  }
  CandidatePicker after = Picker();
  ASSERT_TRUE(after.Next(After::kStart, &c));
  EXPECT_EQ(c.keys_available, 1u);
}

TEST_F(CandidatePickerTest, SessionSticksToTheKeyThatServedIt) {
  Build({{{"k1"}, {"k2"}, {"k3"}}});
  const std::string home = Serve("session-a");
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Serve("session-a"), home);
  }
  std::set<std::string> spread;
  for (int i = 0; i < 30; ++i) {
    spread.insert(Serve("session-" + std::to_string(i + 100)));
  }
  EXPECT_EQ(spread.size(), 3u) << "different sessions spread over every key";
}

TEST_F(CandidatePickerTest, AffinityMovesWhenItsKeyCoolsDown) {
  Build({{{"k1"}, {"k2"}}});
  const std::string home = Serve("s");
  CandidatePicker picker = Picker("s");
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  ASSERT_EQ(Secret(c), home);
  EXPECT_TRUE(c.from_affinity);
  state::UpstreamLimits limits;
  limits.Add("retry-after", "60", clock_.UnixMillis());
  picker.OnResponse(c, 429, limits);
  ASSERT_TRUE(picker.Next(After::kKeyProblem, &c));
  const std::string moved = Secret(c);
  EXPECT_NE(moved, home);
  picker.OnResponse(c, 200, state::UpstreamLimits{});
  clock_.Advance(seconds(61));  // the first key is back, but the session now lives on `moved`
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Serve("s"), moved);
  }
}

TEST_F(CandidatePickerTest, AffinityTargetOutsideTheCandidatesIsIgnored) {
  Build({{{"k1"}}, {{"k2"}}});
  EXPECT_EQ(Serve("s"), "k1");
  ranked_ = {1};  // this request's model is served by p1 only
  EXPECT_EQ(Serve("s"), "k2");
}

TEST_F(CandidatePickerTest, LimitedAffinityIgnoresATargetPastTheLimit) {
  // A scenario rule's request: p1 is the rule's provider, p0 its fallback. The session lives on
  // p0 (it fell back there); with affinity limited to the rule's provider, p1 is tried first.
  Build({{{"k1"}}, {{"k2"}}});
  EXPECT_EQ(Serve("s"), "k1");
  ranked_ = {1, 0};
  CandidatePicker picker = Picker("s");
  picker.LimitAffinity(1);
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  EXPECT_EQ(Secret(c), "k2");
  EXPECT_FALSE(c.from_affinity);
  picker.OnResponse(c, 200, state::UpstreamLimits{});
  // Within the limit the affinity holds as ever.
  CandidatePicker again = Picker("s");
  again.LimitAffinity(1);
  ASSERT_TRUE(again.Next(After::kStart, &c));
  EXPECT_EQ(Secret(c), "k2");
  EXPECT_TRUE(c.from_affinity);
}

TEST_F(CandidatePickerTest, AffinityOffIgnoresSessions) {
  Build({{{"k1"}, {"k2"}}}, false);
  std::set<std::string> used;
  for (int i = 0; i < 4; ++i) {
    used.insert(Serve("s"));
  }
  EXPECT_EQ(used.size(), 2u);
}

TEST_F(CandidatePickerTest, OpenProviderBreakerSkipsTheProvider) {
  Build({{{"k1"}}, {{"k2"}}});
  for (int i = 0; i < 5; ++i) {
    CandidatePicker picker = Picker();
    Candidate c;
    ASSERT_TRUE(picker.Next(After::kStart, &c));
    ASSERT_EQ(c.provider, 0u);
    picker.OnTransportFailure(c);
  }
  EXPECT_EQ(Serve(""), "k2");
  EXPECT_EQ(Serve(""), "k2");
  // Half-open after 30 s: one probe goes to p0; its success closes the breaker.
  clock_.Advance(seconds(30));
  CandidatePicker probe = Picker();
  Candidate c;
  ASSERT_TRUE(probe.Next(After::kStart, &c));
  EXPECT_EQ(c.provider, 0u);
  EXPECT_EQ(c.provider_admission, Admission::kProbe);
  EXPECT_EQ(Serve(""), "k2") << "one probe in flight at a time";
  EXPECT_EQ(probe.OnResponse(c, 200, state::UpstreamLimits{}).provider_transition,
            state::CircuitBreaker::Transition::kClosed);
  EXPECT_EQ(Serve(""), "k1");
}

TEST_F(CandidatePickerTest, RateLimitsDoNotOpenTheProviderBreaker) {
  Build({{{"k1"}, {"k2"}}, {{"k3"}}});
  for (int i = 0; i < 20; ++i) {
    CandidatePicker picker = Picker();
    Candidate c;
    ASSERT_TRUE(picker.Next(After::kStart, &c));
    state::UpstreamLimits limits;
    limits.Add("retry-after", "0", clock_.UnixMillis());
    picker.OnResponse(c, 429, limits);
  }
  EXPECT_EQ(table_->providers[0].state->breaker.state(table_->provider_breaker, clock_.Now()),
            state::CircuitBreaker::State::kClosed);
}

TEST_F(CandidatePickerTest, EverythingOpenTriesTheLeastRecentlyOpened) {
  Build({{{"k1"}}, {{"k2"}}});
  auto fail_provider = [&](uint32_t p) {
    for (int i = 0; i < 5; ++i) {
      table_->providers[p].state->breaker.Record(table_->provider_breaker, false,
                                                 Admission::kAllowed, clock_.Now());
    }
  };
  fail_provider(1);
  clock_.Advance(seconds(1));
  fail_provider(0);
  CandidatePicker picker = Picker();
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  EXPECT_EQ(Secret(c), "k2") << "p1 opened first";
  EXPECT_EQ(c.provider_admission, Admission::kForced);
  picker.OnTransportFailure(c);
  // Its failure restarted p1's open period: now p0 is the least recently opened.
  CandidatePicker next = Picker();
  ASSERT_TRUE(next.Next(After::kStart, &c));
  EXPECT_EQ(Secret(c), "k1");
}

TEST_F(CandidatePickerTest, KeyBreakerOpensOnKeyFailures) {
  Build({{{"k1"}, {"k2"}}});
  // k1 fails five times in a row (its answers are 500s); k2 keeps working.
  int k1_failures = 0;
  while (k1_failures < 5) {
    CandidatePicker picker = Picker();
    Candidate c;
    ASSERT_TRUE(picker.Next(After::kStart, &c));
    const bool bad = Secret(c) == "k1";
    picker.OnResponse(c, bad ? 500 : 200, state::UpstreamLimits{});
    k1_failures += bad ? 1 : 0;
  }
  EXPECT_EQ(KeyOf(0, 0).Status(table_->key_breaker, clock_.Now()).state, "circuit_open");
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(Serve(""), "k2");
  }
}

TEST_F(CandidatePickerTest, UsageCorrectsTheInputEstimateAndChargesOutput) {
  Build({{{"k1", 0, 1000}}});
  CandidatePicker picker = Picker("", 900);
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  EXPECT_NEAR(KeyOf(0, 0).Status(table_->key_breaker, clock_.Now()).itpm_available, 100, 1e-6);
  http::Usage usage;
  usage.input_tokens = 40;
  usage.cache_creation_input_tokens = 10;
  usage.cache_read_input_tokens = 5000;  // does not count toward input limits
  picker.SyncUsage(c, usage);
  EXPECT_NEAR(KeyOf(0, 0).Status(table_->key_breaker, clock_.Now()).itpm_available, 950, 1e-6);
  picker.SyncUsage(c, usage);  // cumulative: nothing more
  EXPECT_NEAR(KeyOf(0, 0).Status(table_->key_breaker, clock_.Now()).itpm_available, 950, 1e-6);
}

TEST_F(CandidatePickerTest, FailedAnswerGivesTheEstimateBack) {
  Build({{{"k1", 0, 1000}}, {{"k2"}}});
  CandidatePicker picker = Picker("", 900);
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  picker.OnResponse(c, 503, state::UpstreamLimits{});
  EXPECT_NEAR(KeyOf(0, 0).Status(table_->key_breaker, clock_.Now()).itpm_available, 1000, 1e-6);
}

TEST_F(CandidatePickerTest, AbandonedUnsentCandidateGetsItsReservationBack) {
  Build({{{"k1", 1}}});
  CandidatePicker picker = Picker();
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  picker.Abandon(c, false);
  EXPECT_EQ(Serve(""), "k1") << "the request of the minute was given back";
}

TEST_F(CandidatePickerTest, PassthroughProviderHasNoKey) {
  Build({{}});
  CandidatePicker picker = Picker("s");
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  EXPECT_EQ(c.key, -1);
  EXPECT_EQ(c.keys_total, 0u);
  picker.OnResponse(c, 200, state::UpstreamLimits{});
  EXPECT_EQ(Serve("s"), "-");
}

TEST_F(CandidatePickerTest, KeysThatFailedTheirCheckAreChosenOnlyWhenNothingElseIs) {
  Build({{{"k1", 0, 0, v1::CheckedHealth::AUTH_FAILED}, {"k2"}, {"k3", 0, 0, v1::CheckedHealth::UNHEALTHY}}});
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(Serve(""), "k2");
  }
  // Every key failed its check: one is still tried (the answer decides, not the check).
  Build({{{"k1", 0, 0, v1::CheckedHealth::AUTH_FAILED}, {"k3", 0, 0, v1::CheckedHealth::UNHEALTHY}}});
  std::set<std::string> used;
  for (int i = 0; i < 4; ++i) {
    used.insert(Serve(""));
  }
  EXPECT_FALSE(used.empty());
  EXPECT_EQ(used.count("-"), 0u);
}

TEST_F(CandidatePickerTest, UnhealthyProviderIsTriedAfterTheHealthyOnes) {
  provider_checks_[0] = v1::CheckedHealth::UNHEALTHY;
  Build({{{"k1"}}, {{"k2"}}});  // p0 is the failover primary
  EXPECT_EQ(Serve(""), "k2");
  provider_checks_[1] = v1::CheckedHealth::UNHEALTHY;
  Build({{{"k1"}}, {{"k2"}}});
  EXPECT_EQ(Serve(""), "k1") << "everything unhealthy: the first in strategy order";
  provider_checks_.clear();
}

TEST_F(CandidatePickerTest, AffinityLeavesAKeyThatFailedItsCheck) {
  Build({{{"k1"}, {"k2"}}});
  const std::string home = Serve("s");
  const std::string other = home == "k1" ? "k2" : "k1";
  std::vector<std::vector<KeySpec>> spec = {{{"k1"}, {"k2"}}};
  (home == "k1" ? spec[0][0] : spec[0][1]).check = v1::CheckedHealth::AUTH_FAILED;
  Build(spec);
  EXPECT_EQ(Serve("s"), other);
}

TEST_F(CandidatePickerTest, PassingCheckPutsBackAKeyDisabledBeforeIt) {
  Build({{{"k1"}, {"k2"}}});
  ASSERT_TRUE(KeyOf(0, 0).Disable("401 authentication_error", 5000));
  // A verdict older than the 401 changes nothing.
  Build({{{"k1", 0, 0, v1::CheckedHealth::HEALTHY, 4000}, {"k2"}}});
  EXPECT_TRUE(KeyOf(0, 0).disabled());
  // A check that passed after it puts the key back.
  Build({{{"k1", 0, 0, v1::CheckedHealth::HEALTHY, 6000}, {"k2"}}});
  EXPECT_FALSE(KeyOf(0, 0).disabled());
  std::set<std::string> used;
  for (int i = 0; i < 4; ++i) {
    used.insert(Serve(""));
  }
  EXPECT_EQ(used, (std::set<std::string>{"k1", "k2"}));
}

TEST_F(CandidatePickerTest, ExpiredCredentialIsSetAsideBeforeItsExpiry) {
  const int64_t now = clock_.UnixMillis();
  // k1 expires in a minute, k2 in an hour; p1 is the fallback.
  Build({{{"k1", 0, 0, v1::CheckedHealth::UNKNOWN, 0, now + 60'000},
          {"k2", 0, 0, v1::CheckedHealth::UNKNOWN, 0, now + 3'600'000}},
         {{"k3"}}});
  std::set<std::string> used;
  for (int i = 0; i < 4; ++i) {
    used.insert(Serve(""));
  }
  EXPECT_EQ(used, (std::set<std::string>{"k1", "k2"}));
  // Within kExpiryMargin of its expiry k1 is no longer used, with no new snapshot.
  clock_.Advance(std::chrono::milliseconds(60'000) - kExpiryMargin);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(Serve(""), "k2");
  }
  // Every key of p0 expired: the fallback serves, and p0 says so.
  clock_.Advance(std::chrono::hours(1));
  EXPECT_EQ(Serve(""), "k3");
  int64_t expired_ms = 0;
  EXPECT_TRUE(table_->providers[0].AllKeysExpired(clock_.Now(), &expired_ms));
  EXPECT_EQ(expired_ms, now + 3'600'000);
  EXPECT_FALSE(table_->providers[1].AllKeysExpired(clock_.Now(), &expired_ms));
}

TEST_F(CandidatePickerTest, NothingButExpiredCredentialsSaysSo) {
  Build({{{"k1", 0, 0, v1::CheckedHealth::UNKNOWN, 0, clock_.UnixMillis() + 8'000}}});
  clock_.Advance(std::chrono::seconds(6));  // 8 s left at compile time: a 2 s margin
  CandidatePicker picker = Picker();
  Candidate c;
  EXPECT_FALSE(picker.Next(After::kStart, &c));
  EXPECT_EQ(picker.why(), NoCandidate::kExpired);
}

TEST_F(CandidatePickerTest, AffinityLeavesAnExpiredKey) {
  const int64_t now = clock_.UnixMillis();
  Build({{{"k1", 0, 0, v1::CheckedHealth::UNKNOWN, 0, now + 60'000},
          {"k2", 0, 0, v1::CheckedHealth::UNKNOWN, 0, now + 60'000}}});
  const std::string home = Serve("s");
  const std::string other = home == "k1" ? "k2" : "k1";
  std::vector<std::vector<KeySpec>> spec = {
      {{"k1", 0, 0, v1::CheckedHealth::UNKNOWN, 0, now + 600'000},
       {"k2", 0, 0, v1::CheckedHealth::UNKNOWN, 0, now + 600'000}}};
  (home == "k1" ? spec[0][0] : spec[0][1]).expires_unix_ms = now + 20'000;
  Build(spec);
  clock_.Advance(std::chrono::seconds(15));
  EXPECT_EQ(Serve("s"), other);
}

// PeekFirst (route explain): names the candidate the first Next() takes, and takes nothing.
class PeekFirstTest : public CandidatePickerTest {
 protected:
  FirstPeek Peek(std::vector<ProviderPeek>* providers = nullptr) {
    std::vector<ProviderPeek> local;
    FirstPeek first;
    PeekFirst(*table_, ranked_, state::RequestCost{true, 100}, clock_.Now(),
              providers != nullptr ? providers : &local, &first);
    return first;
  }
};

TEST_F(PeekFirstTest, AgreesWithTheFirstPickAlongTheWheelAndReservesNothing) {
  Build({{{"k1", 2}, {"k2", 2}, {"k3", 2}}, {{"b1"}}});
  for (int i = 0; i < 6; ++i) {
    std::vector<ProviderPeek> providers;
    const FirstPeek first = Peek(&providers);
    const FirstPeek again = Peek();  // no cursor moved, no budget taken
    ASSERT_TRUE(first.found);
    EXPECT_EQ(again.provider, first.provider);
    EXPECT_EQ(again.key, first.key);
    ASSERT_EQ(providers.size(), 2u);
    EXPECT_EQ(providers[0].keys.size(), 3u);
    CandidatePicker picker = Picker();
    Candidate c;
    ASSERT_TRUE(picker.Next(After::kStart, &c));
    EXPECT_EQ(c.provider, first.provider) << i;
    EXPECT_EQ(c.key, first.key) << i;
    EXPECT_FALSE(first.forced);
    picker.OnResponse(c, 200, state::UpstreamLimits{});
  }
  // Every key of p0 spent its rpm: the first pick moves to p1, and explain says so.
  const FirstPeek moved = Peek();
  EXPECT_EQ(moved.provider, 1u);
  std::vector<ProviderPeek> providers;
  Peek(&providers);
  for (const KeyPeek& k : providers[0].keys) {
    EXPECT_EQ(k.check.verdict, state::KeyCheck::Verdict::kLimited);
  }
}

TEST_F(PeekFirstTest, NothingLeftSaysWhyAsThePickerDoes) {
  Build({{{"k1", 1}}});
  Serve("");
  const FirstPeek first = Peek();
  EXPECT_FALSE(first.found);
  EXPECT_EQ(first.why, NoCandidate::kRateLimited);
  CandidatePicker picker = Picker();
  Candidate c;
  EXPECT_FALSE(picker.Next(After::kStart, &c));
  EXPECT_EQ(picker.why(), NoCandidate::kRateLimited);
  EXPECT_EQ(picker.retry_at(), first.retry_at);
}

TEST_F(PeekFirstTest, ForcedChoiceWhenEveryCandidateIsSetAside) {
  Build({{{"k1", 0, 0, v1::CheckedHealth::UNHEALTHY}}, {{"b1", 0, 0, v1::CheckedHealth::UNHEALTHY}}});
  const FirstPeek first = Peek();
  ASSERT_TRUE(first.found);
  EXPECT_TRUE(first.forced);
  CandidatePicker picker = Picker();
  Candidate c;
  ASSERT_TRUE(picker.Next(After::kStart, &c));
  EXPECT_EQ(c.provider, first.provider);
  EXPECT_EQ(c.key, first.key);
}

}  // namespace
}  // namespace ccrelay::routing
