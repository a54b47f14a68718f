// The generic refresher of minted credentials, driven by the fake clock with a scripted source
// (the AWS chain through it: aws_credential_refresher_test.cc).
#include "controlplane/credentials/credential_refresher.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/scripted_credential_source.h"

namespace ccrelay::controlplane::credentials {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;
using FakeClock = ::ccrelay::testing::FakeClock;
using Source = ::ccrelay::testing::ScriptedCredentialSource;

class CredentialRefresherTest : public ::testing::Test {
 protected:
  int64_t In(milliseconds d) const { return clock_.UnixMillis() + d.count(); }

  std::unique_ptr<CredentialRefresher> Make(double random) {
    CredentialRefresherOptions o;
    o.name = "vertex-test";
    o.source = source_;
    o.on_change = [this] { ++changes_; };
    o.clock = &clock_;
    o.random = [random] { return random; };
    return std::make_unique<CredentialRefresher>(std::move(o));
  }

  // The token served ("" when none).
  static std::string Token(const CredentialRefresher& r) {
    const auto c = r.Credential();
    return c.has_value() ? c->key.secret() : std::string();
  }

  FakeClock clock_;
  std::shared_ptr<Source> source_ = std::make_shared<Source>();
  std::atomic<int> changes_{0};
};

TEST_F(CredentialRefresherTest, ATokenIsRenewedAheadOfItsExpiryWithJitter) {
  auto refresher = Make(/*random=*/0.5);
  source_->Push(Source::Token("ya29.one", In(minutes(60)), "service account sa@p"));
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  const std::optional<MintedCredential> c = refresher->Credential();
  ASSERT_TRUE(c.has_value());
  // The snapshot's key: the token as a bearer secret, its expiry, a fingerprint of the token
  // (the source left it empty).
  EXPECT_EQ(c->key.secret(), "ya29.one");
  EXPECT_TRUE(c->key.oauth_token());
  EXPECT_EQ(c->key.expires_unix_ms(), In(minutes(60)));
  EXPECT_EQ(c->key.fingerprint(), common::FingerprintOf("ya29.one"));
  EXPECT_FALSE(c->key.has_aws());
  EXPECT_EQ(c->source, "service account sa@p");
  EXPECT_EQ(changes_, 1);
  // 5 minutes ahead, minus half of the 1 minute of jitter.
  EXPECT_EQ(refresher->NextRefreshDelay(), minutes(55) - seconds(30));

  clock_.Advance(minutes(54));
  refresher->RunDue();
  EXPECT_EQ(source_->Calls(), 1);
  source_->Push(Source::Token("ya29.two", In(minutes(60) + seconds(30))));
  clock_.Advance(seconds(30));
  refresher->RunDue();
  EXPECT_EQ(source_->Calls(), 2);
  EXPECT_EQ(Token(*refresher), "ya29.two");
  EXPECT_EQ(changes_, 2);
}

TEST_F(CredentialRefresherTest, JitterStaysWithinItsWindow) {
  for (double r : {0.0, 0.25, 0.999}) {
    auto refresher = Make(r);
    source_->Push(Source::Token("t", In(minutes(30))));
    ASSERT_TRUE(refresher->RefreshOnce().ok());
    EXPECT_LE(refresher->NextRefreshDelay(), minutes(25)) << r;
    EXPECT_GT(refresher->NextRefreshDelay(), minutes(24)) << r;
  }
}

TEST_F(CredentialRefresherTest, FailuresBackOffWithJitterAndKeepTheOldToken) {
  auto refresher = Make(/*random=*/0.0);
  source_->Push(Source::Token("ya29.old", In(minutes(30))));
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  clock_.Advance(refresher->NextRefreshDelay());  // 25 minutes: 5 minutes of validity left
  const int64_t first_failure = clock_.UnixMillis();
  source_->PushErrors(8, "token endpoint http://127.0.0.1:9/token: connect: refused");
  // random 0: the lower end of each jittered step [base/2, base].
  const std::vector<milliseconds> expected = {milliseconds(500), seconds(1), seconds(2),
                                              seconds(4),        seconds(8), seconds(16),
                                              seconds(30),       seconds(30)};
  for (size_t i = 0; i < expected.size(); ++i) {
    refresher->RunDue();
    const CredentialState st = refresher->State();
    EXPECT_EQ(st.consecutive_failures, i + 1);
    EXPECT_EQ(st.failing_since_unix_ms, first_failure);
    EXPECT_THAT(st.last_error, HasSubstr("connect: refused"));
    EXPECT_FALSE(st.expired);
    ASSERT_TRUE(st.credential.has_value());
    EXPECT_EQ(st.credential->key.secret(), "ya29.old");
    EXPECT_EQ(refresher->NextRefreshDelay(), expected[i]) << i;
    clock_.Advance(refresher->NextRefreshDelay());
  }
  EXPECT_EQ(changes_, 1);  // failures alone change nothing served

  source_->Push(Source::Token("ya29.new", In(minutes(60))));
  refresher->RunDue();
  const CredentialState st = refresher->State();
  EXPECT_EQ(st.consecutive_failures, 0u);
  EXPECT_EQ(st.failing_since_unix_ms, 0);
  EXPECT_EQ(st.last_error, "");
  EXPECT_EQ(Token(*refresher), "ya29.new");
  EXPECT_EQ(changes_, 2);
}

TEST_F(CredentialRefresherTest, TheOldTokenServesUntilItsExpiryThenGoes) {
  auto refresher = Make(/*random=*/0.0);
  source_->Push(Source::Token("ya29.short", In(minutes(8))));
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  const int64_t expiry = In(minutes(8));
  source_->PushErrors(100, "metadata server: HTTP 500");
  while (refresher->Credential().has_value()) {
    ASSERT_LT(clock_.UnixMillis(), expiry);
    EXPECT_EQ(Token(*refresher), "ya29.short");
    clock_.Advance(refresher->NextRefreshDelay());
    refresher->RunDue();
  }
  // Dropped at the expiry itself (the refresher wakes for it), with a change to publish.
  EXPECT_EQ(clock_.UnixMillis(), expiry);
  const CredentialState st = refresher->State();
  EXPECT_TRUE(st.expired);
  EXPECT_FALSE(st.credential.has_value());
  EXPECT_EQ(st.last_error, "metadata server: HTTP 500");
  EXPECT_EQ(changes_, 2);
}

TEST_F(CredentialRefresherTest, RefreshSoonMakesTheNextAttemptDueNow) {
  auto refresher = Make(/*random=*/0.0);
  source_->Push(Source::Token("ya29.one", In(minutes(60))));
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  EXPECT_EQ(refresher->NextRefreshDelay(), minutes(55));
  refresher->RefreshSoon();
  EXPECT_EQ(refresher->NextRefreshDelay(), milliseconds(0));
  source_->Push(Source::Token("ya29.two", In(minutes(60))));
  refresher->RunDue();
  EXPECT_EQ(Token(*refresher), "ya29.two");
  EXPECT_EQ(refresher->NextRefreshDelay(), minutes(55));
}

TEST_F(CredentialRefresherTest, RenewalDecidesForCredentialsWithoutExpiry) {
  auto refresher = Make(/*random=*/0.0);
  MintedCredential c = Source::Token("static-key", 0);
  c.renewal = MintedCredential::Renewal::kReread;
  source_->Push(c);
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  EXPECT_EQ(refresher->NextRefreshDelay(), minutes(5));
  EXPECT_EQ(refresher->Credential()->key.expires_unix_ms(), 0);
  // A temporary credential whose issuer named no expiry is asked for again as often.
  c.renewal = MintedCredential::Renewal::kAtExpiry;
  source_->Push(c);
  refresher->RefreshSoon();
  refresher->RunDue();
  EXPECT_EQ(refresher->NextRefreshDelay(), minutes(5));
  c.renewal = MintedCredential::Renewal::kNever;
  source_->Push(c);
  refresher->RefreshSoon();
  refresher->RunDue();
  EXPECT_EQ(refresher->NextRefreshDelay(), milliseconds::max());
  EXPECT_EQ(changes_, 1);  // the same key throughout
}

TEST_F(CredentialRefresherTest, ATokenExpiredOnArrivalIsAFailureNamingItsSource) {
  auto refresher = Make(/*random=*/0.0);
  source_->Push(Source::Token("ya29.stale", In(-seconds(1)), "metadata server"));
  const absl::Status s = refresher->RefreshOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("token from metadata server (token " + common::FingerprintOf("ya29.stale") +
                        ") expired already"));
  EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("ya29.stale")));
  EXPECT_FALSE(refresher->Credential().has_value());
  EXPECT_EQ(changes_, 0);
}

TEST_F(CredentialRefresherTest, WithoutASourceEveryAttemptFailsClearly) {
  CredentialRefresherOptions o;
  o.name = "azure-test";
  o.noun = "Entra ID token";
  o.clock = &clock_;
  CredentialRefresher refresher(std::move(o));
  const absl::Status s = refresher.RefreshOnce();
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(refresher.State().last_error, "no source of Entra ID token configured");
}

TEST_F(CredentialRefresherTest, TheThreadRefreshesOnRefreshSoon) {
  auto refresher = Make(/*random=*/0.0);
  source_->Push(Source::Token("ya29.one", In(minutes(60))));
  ASSERT_TRUE(refresher->Start().ok());
  source_->Push(Source::Token("ya29.two", In(minutes(60))));
  refresher->RefreshSoon();
  EXPECT_TRUE(source_->WaitForCalls(2, seconds(10)));
  refresher->Stop();
  EXPECT_EQ(Token(*refresher), "ya29.two");
  EXPECT_EQ(changes_, 2);
}

}  // namespace
}  // namespace ccrelay::controlplane::credentials
