// The AWS credential chain through the generic refresher (Bedrock's minter).
#include "controlplane/credentials/aws_chain_source.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controlplane/credentials/aws_credential_chain.h"
#include "controlplane/credentials/credential_refresher.h"
#include "dataplane/common/log.h"
#include "tests/fakes/fake_aws_metadata.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/scripted_credential_source.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::controlplane::aws {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;
using FakeClock = ::ccrelay::testing::FakeClock;
using credentials::CredentialRefresher;
using credentials::CredentialRefresherOptions;
using credentials::CredentialState;

// The AWS credentials a refresher serves (empty: none).
ccrelay::v1::AwsCredentials Served(const CredentialRefresher& r) {
  const auto c = r.Credential();
  return c.has_value() ? c->key.aws() : ccrelay::v1::AwsCredentials();
}
ccrelay::v1::AwsCredentials Served(const CredentialState& s) {
  return s.credential.has_value() ? s.credential->key.aws() : ccrelay::v1::AwsCredentials();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

// The chain, scripted: each walk takes the next answer (an error when none is left).
using ScriptedChain = ::ccrelay::testing::ScriptedAnswers<AwsCredentials>;

class AwsCredentialRefresherTest : public ::testing::Test {
 protected:
  // Temporary credentials expiring `life` from now (fake clock).
  AwsCredentials Temporary(const std::string& id, milliseconds life) const {
    AwsCredentials c;
    c.access_key_id = id;
    c.secret_access_key = common::Secret("secret-of-" + id);
    c.session_token = common::Secret("token-of-" + id);
    c.expires_unix_ms = clock_.UnixMillis() + life.count();
    c.kind = AwsCredentialKind::kWebIdentity;
    c.source = "web identity";
    return c;
  }

  AwsCredentials LongTerm(const std::string& id, AwsCredentialKind kind) const {
    AwsCredentials c = Temporary(id, milliseconds(0));
    c.session_token = common::Secret();
    c.expires_unix_ms = 0;
    c.kind = kind;
    c.source = kind == AwsCredentialKind::kProfile ? "profile default" : "environment";
    return c;
  }

  // Bedrock's refresher options (noun, log names), as MintedKeys makes them.
  CredentialRefresherOptions BedrockOptions() const {
    return BedrockMinter(MapEnvironment({}), &clock_).refresher;
  }

  std::unique_ptr<CredentialRefresher> Make(
      double random, std::function<absl::StatusOr<AwsCredentials>()> resolve = nullptr) {
    CredentialRefresherOptions o = BedrockOptions();
    o.name = "bedrock-test";
    if (!resolve) {
      resolve = [this] { return chain_.Next(); };
    }
    o.source = std::make_shared<AwsChainSource>(std::move(resolve));
    o.on_change = [this] { ++changes_; };
    o.clock = &clock_;
    o.random = [random] { return random; };
    return std::make_unique<CredentialRefresher>(std::move(o));
  }

  FakeClock clock_;
  ScriptedChain chain_;
  std::atomic<int> changes_{0};
};

TEST_F(AwsCredentialRefresherTest, RefreshesAheadOfExpiry) {
  auto refresher = Make(/*random=*/0.0);
  chain_.Push(Temporary("A", minutes(60)));
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  EXPECT_EQ(Served(*refresher).access_key_id(), "A");
  EXPECT_EQ(Served(*refresher).secret_access_key(), "secret-of-A");
  EXPECT_EQ(Served(*refresher).session_token(), "token-of-A");
  EXPECT_EQ(Served(*refresher).source(), "web identity");
  // The snapshot's key: the access key id's fingerprint and the expiry; renewed ahead of it.
  const std::optional<credentials::MintedCredential> minted = refresher->Credential();
  ASSERT_TRUE(minted.has_value());
  EXPECT_EQ(minted->key.fingerprint(), common::FingerprintOf("A"));
  EXPECT_EQ(minted->key.expires_unix_ms(), clock_.UnixMillis() + milliseconds(minutes(60)).count());
  EXPECT_EQ(minted->expires_unix_ms, minted->key.expires_unix_ms());
  EXPECT_EQ(minted->renewal, credentials::MintedCredential::Renewal::kAtExpiry);
  EXPECT_TRUE(minted->key.secret().empty());
  EXPECT_FALSE(minted->key.oauth_token());
  EXPECT_EQ(changes_, 1);
  // 5 minutes ahead, no jitter drawn.
  EXPECT_EQ(refresher->NextRefreshDelay(), minutes(55));

  clock_.Advance(minutes(55) - milliseconds(1));
  refresher->RunDue();
  EXPECT_EQ(chain_.Calls(), 1);
  EXPECT_EQ(refresher->NextRefreshDelay(), milliseconds(1));

  chain_.Push(Temporary("B", minutes(60)));
  clock_.Advance(milliseconds(1));
  refresher->RunDue();
  EXPECT_EQ(chain_.Calls(), 2);
  EXPECT_EQ(Served(*refresher).access_key_id(), "B");
  EXPECT_EQ(changes_, 2);
}

TEST_F(AwsCredentialRefresherTest, JitterMovesTheRefreshEarlier) {
  auto refresher = Make(/*random=*/1.0);
  chain_.Push(Temporary("A", minutes(60)));
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  EXPECT_EQ(refresher->NextRefreshDelay(), minutes(54));
}

TEST_F(AwsCredentialRefresherTest, DefaultJitterStaysInItsWindow) {
  CredentialRefresherOptions o = BedrockOptions();
  o.source = std::make_shared<AwsChainSource>([this] { return chain_.Next(); });
  o.clock = &clock_;
  CredentialRefresher refresher(std::move(o));
  chain_.Push(Temporary("A", minutes(60)));
  ASSERT_TRUE(refresher.RefreshOnce().ok());
  EXPECT_GE(refresher.NextRefreshDelay(), minutes(54));
  EXPECT_LE(refresher.NextRefreshDelay(), minutes(55));
}

TEST_F(AwsCredentialRefresherTest, ShortLivedCredentialsRefreshAtHalfTheirLife) {
  auto refresher = Make(/*random=*/1.0);
  chain_.Push(Temporary("A", minutes(4)));
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  EXPECT_EQ(refresher->NextRefreshDelay(), minutes(2));
  clock_.Advance(minutes(2));
  chain_.Push(Temporary("B", milliseconds(1200)));
  refresher->RunDue();
  EXPECT_EQ(Served(*refresher).access_key_id(), "B");
  // Half of 1.2 s is under the one-second floor.
  EXPECT_EQ(refresher->NextRefreshDelay(), seconds(1));
}

TEST_F(AwsCredentialRefresherTest, FailuresKeepTheOldCredentialsAndBackOff) {
  auto refresher = Make(/*random=*/1.0);
  chain_.Push(Temporary("A", minutes(30)));
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  clock_.Advance(refresher->NextRefreshDelay());  // 24 minutes: 6 minutes of validity left
  chain_.PushErrors(8, "STS is down");
  const std::vector<milliseconds> expected = {seconds(1),  seconds(2),  seconds(4),  seconds(8),
                                              seconds(16), seconds(32), seconds(60), seconds(60)};
  for (size_t i = 0; i < expected.size(); ++i) {
    refresher->RunDue();
    const CredentialState state = refresher->State();
    EXPECT_EQ(state.consecutive_failures, i + 1);
    EXPECT_EQ(state.last_error, "STS is down");
    EXPECT_FALSE(state.expired);
    EXPECT_EQ(Served(state).access_key_id(), "A");
    EXPECT_EQ(Served(*refresher).access_key_id(), "A");
    EXPECT_EQ(refresher->NextRefreshDelay(), expected[i]) << i;
    clock_.Advance(refresher->NextRefreshDelay());
  }
  EXPECT_EQ(changes_, 1);  // failures alone change nothing served

  // Recovery: new credentials, state cleared, backoff starts over.
  chain_.Push(Temporary("B", minutes(60)));
  refresher->RunDue();
  CredentialState state = refresher->State();
  EXPECT_EQ(Served(state).access_key_id(), "B");
  EXPECT_EQ(state.consecutive_failures, 0u);
  EXPECT_EQ(state.last_error, "");
  EXPECT_EQ(state.last_success_unix_ms, clock_.UnixMillis());
  EXPECT_EQ(changes_, 2);
  clock_.Advance(refresher->NextRefreshDelay());
  chain_.PushErrors(1, "again");
  refresher->RunDue();
  EXPECT_EQ(refresher->NextRefreshDelay(), seconds(1));
}

TEST_F(AwsCredentialRefresherTest, ExpiryWithoutSuccessorStopsServingThem) {
  auto refresher = Make(/*random=*/0.0);
  const AwsCredentials a = Temporary("A", minutes(7));
  chain_.Push(a);
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  chain_.PushErrors(50, "no route to STS");
  for (int i = 0; i < 50 && !refresher->State().expired; ++i) {
    clock_.Advance(refresher->NextRefreshDelay());
    refresher->RunDue();
  }
  // Woken at the expiry itself (not at the next retry).
  EXPECT_EQ(clock_.UnixMillis(), a.expires_unix_ms);
  CredentialState state = refresher->State();
  EXPECT_TRUE(state.expired);
  EXPECT_EQ(Served(state).access_key_id(), "");
  EXPECT_EQ(Served(*refresher).access_key_id(), "");
  EXPECT_EQ(state.last_error, "no route to STS");
  EXPECT_EQ(changes_, 2);  // the expiry is a change: the snapshot must drop them

  // Recovery after expiry.
  chain_.Clear();
  chain_.Push(Temporary("B", minutes(60)));
  clock_.Advance(refresher->NextRefreshDelay());
  refresher->RunDue();
  state = refresher->State();
  EXPECT_FALSE(state.expired);
  EXPECT_EQ(Served(state).access_key_id(), "B");
  EXPECT_EQ(changes_, 3);
}

TEST_F(AwsCredentialRefresherTest, UnchangedCredentialsAreNoChange) {
  auto refresher = Make(/*random=*/0.0);
  const AwsCredentials a = Temporary("A", minutes(60));
  chain_.Push(a);
  chain_.Push(a);
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  EXPECT_EQ(changes_, 1);
}

TEST_F(AwsCredentialRefresherTest, CredentialsExpiredOnArrivalAreAFailure) {
  auto refresher = Make(/*random=*/0.0);
  chain_.Push(Temporary("A", milliseconds(-1000)));
  const absl::Status s = refresher->RefreshOnce();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("expired already"));
  EXPECT_EQ(Served(*refresher).access_key_id(), "");
  EXPECT_EQ(refresher->State().consecutive_failures, 1u);
  EXPECT_FALSE(refresher->State().expired);  // nothing was served
  EXPECT_EQ(changes_, 0);
}

TEST_F(AwsCredentialRefresherTest, LongTermEnvironmentKeysAreNotRefreshed) {
  auto refresher = Make(/*random=*/0.0);
  chain_.Push(LongTerm("AKIDENV", AwsCredentialKind::kEnvironment));
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  EXPECT_EQ(refresher->NextRefreshDelay(), milliseconds::max());
  clock_.Advance(std::chrono::hours(24 * 30));
  refresher->RunDue();
  EXPECT_EQ(chain_.Calls(), 1);
  EXPECT_EQ(Served(*refresher).access_key_id(), "AKIDENV");
  EXPECT_EQ(Served(*refresher).expires_unix_ms(), 0);
}

TEST_F(AwsCredentialRefresherTest, SharedFileKeysAreReReadEveryFewMinutes) {
  ::ccrelay::testing::TempDir home;
  const std::string file = home.path() + "/.aws/credentials";
  WriteFile(file, "[default]\naws_access_key_id = AKIDONE\naws_secret_access_key = one\n");
  AwsCredentialChainOptions options;
  options.env = MapEnvironment({{"HOME", home.path()}, {"AWS_EC2_METADATA_DISABLED", "true"}});
  options.clock = &clock_;
  const AwsCredentialChain chain(std::move(options));
  auto refresher = Make(/*random=*/0.0, [&chain] { return chain.Resolve(); });
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  EXPECT_EQ(Served(*refresher).access_key_id(), "AKIDONE");
  EXPECT_EQ(Served(*refresher).source(), "profile default");
  EXPECT_EQ(refresher->NextRefreshDelay(), minutes(5));

  WriteFile(file, "[default]\naws_access_key_id = AKIDTWO\naws_secret_access_key = two\n");
  clock_.Advance(minutes(5));
  refresher->RunDue();
  EXPECT_EQ(Served(*refresher).access_key_id(), "AKIDTWO");
  EXPECT_EQ(Served(*refresher).secret_access_key(), "two");
  EXPECT_EQ(changes_, 2);
  // Unchanged file: re-read, no change.
  clock_.Advance(minutes(5));
  refresher->RunDue();
  EXPECT_EQ(changes_, 2);
}

TEST_F(AwsCredentialRefresherTest, WebIdentityAgainstFakeStsAcrossTokenRotation) {
  ::ccrelay::testing::TempDir dir;
  const std::string token_file = dir.WriteFile("token", "oidc-token-one");
  ::ccrelay::testing::FakeAwsMetadata sts;
  ASSERT_TRUE(sts.Start({"--token-file", token_file})) << sts.error();
  ASSERT_TRUE(sts.Configure({{"expires_unix_ms", FakeClock::kStartUnixMs + 3'600'000}}));
  AwsCredentialChainOptions options;
  options.env = MapEnvironment({{"AWS_WEB_IDENTITY_TOKEN_FILE", token_file},
                                {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/fake"},
                                {"AWS_EC2_METADATA_DISABLED", "true"}});
  options.sts_endpoint = sts.url();
  options.clock = &clock_;
  const AwsCredentialChain chain(std::move(options));
  auto refresher = Make(/*random=*/0.0, [&chain] { return chain.Resolve(); });
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  EXPECT_EQ(Served(*refresher).access_key_id(), "ASIAFAKE00000001");
  EXPECT_EQ(Served(*refresher).expires_unix_ms(), FakeClock::kStartUnixMs + 3'600'000);
  EXPECT_EQ(refresher->NextRefreshDelay(), minutes(55));

  // The token rotates; at the refresh STS refuses once (echoing the token), then accepts.
  dir.WriteFile("token", "oidc-token-two");
  ASSERT_TRUE(sts.Configure({{"expires_unix_ms", FakeClock::kStartUnixMs + 7'200'000},
                             {"fail_next", 1},
                             {"fail_mode", "denied"}}));
  clock_.Advance(minutes(55));
  refresher->RunDue();
  CredentialState state = refresher->State();
  EXPECT_EQ(state.consecutive_failures, 1u);
  EXPECT_THAT(state.last_error, HasSubstr("AccessDenied"));
  EXPECT_THAT(state.last_error, Not(HasSubstr("oidc-token-two")));
  EXPECT_EQ(Served(state).access_key_id(), "ASIAFAKE00000001");

  clock_.Advance(refresher->NextRefreshDelay());
  refresher->RunDue();
  state = refresher->State();
  EXPECT_EQ(state.consecutive_failures, 0u);
  EXPECT_EQ(Served(state).access_key_id(), "ASIAFAKE00000002");
  EXPECT_EQ(Served(state).expires_unix_ms(), FakeClock::kStartUnixMs + 7'200'000);
  EXPECT_EQ(sts.Counters()["sts_calls"], 3);
  EXPECT_EQ(changes_, 2);
}

// Log lines captured while the sink is set.
std::mutex g_log_mu;
std::vector<std::string>* g_log_lines = nullptr;
void CaptureLog(std::string_view line) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (g_log_lines != nullptr) {
    g_log_lines->emplace_back(line);
  }
}

TEST_F(AwsCredentialRefresherTest, LogsAndStateCarryNoSecret) {
  std::vector<std::string> lines;
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines = &lines;
  }
  common::SetLogSinkForTest(&CaptureLog);
  auto refresher = Make(/*random=*/0.0);
  chain_.Push(Temporary("AKIDVISIBLE", minutes(6)));
  ASSERT_TRUE(refresher->RefreshOnce().ok());
  chain_.PushErrors(20, "STS unreachable");
  for (int i = 0; i < 20 && !refresher->State().expired; ++i) {
    clock_.Advance(refresher->NextRefreshDelay());
    refresher->RunDue();
  }
  common::SetLogSinkForTest(nullptr);
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines = nullptr;
  }
  ASSERT_TRUE(refresher->State().expired);
  std::string all;
  for (const std::string& line : lines) {
    all += line;
  }
  EXPECT_THAT(all, HasSubstr("aws_credentials_refreshed"));
  EXPECT_THAT(all, HasSubstr("aws_credentials_failed"));
  EXPECT_THAT(all, HasSubstr("aws_credentials_expired"));
  EXPECT_THAT(all, HasSubstr(common::FingerprintOf("AKIDVISIBLE")));
  EXPECT_THAT(all, Not(HasSubstr("AKIDVISIBLE")));
  EXPECT_THAT(all, Not(HasSubstr("secret-of-AKIDVISIBLE")));
  EXPECT_THAT(all, Not(HasSubstr("token-of-AKIDVISIBLE")));
  EXPECT_THAT(refresher->State().last_error, Not(HasSubstr("secret-of")));
}

TEST_F(AwsCredentialRefresherTest, StartResolvesAtOnceAndStopIsPrompt) {
  auto refresher = Make(/*random=*/0.0);
  chain_.Push(Temporary("A", minutes(60)));
  ASSERT_TRUE(refresher->Start().ok());
  // Before the thread did anything: the first snapshot can carry them.
  EXPECT_EQ(Served(*refresher).access_key_id(), "A");
  EXPECT_EQ(changes_, 1);
  // The thread waits (55 minutes by the clock); Stop wakes it.
  refresher->Stop();
  refresher->Stop();  // idempotent
  EXPECT_EQ(chain_.Calls(), 1);
}

TEST_F(AwsCredentialRefresherTest, StartReportsAFirstFailure) {
  auto refresher = Make(/*random=*/0.0);
  chain_.PushErrors(1, "no AWS credentials found; tried: ...");
  const absl::Status s = refresher->Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refresher->State().consecutive_failures, 1u);
  EXPECT_EQ(Served(*refresher).access_key_id(), "");
  refresher->Stop();
}

TEST_F(AwsCredentialRefresherTest, RefreshSoonWakesTheThread) {
  auto refresher = Make(/*random=*/0.0);
  chain_.Push(LongTerm("AKIDENV", AwsCredentialKind::kEnvironment));
  ASSERT_TRUE(refresher->Start().ok());
  chain_.Push(LongTerm("AKIDNEW", AwsCredentialKind::kEnvironment));
  refresher->RefreshSoon();
  // The thread (waiting with nothing scheduled) walks the chain once more.
  EXPECT_TRUE(chain_.WaitForCalls(2, seconds(10)));
  refresher->Stop();
  EXPECT_EQ(chain_.Calls(), 2);
  EXPECT_EQ(Served(*refresher).access_key_id(), "AKIDNEW");
  EXPECT_EQ(changes_, 2);
}

}  // namespace
}  // namespace ccrelay::controlplane::aws
