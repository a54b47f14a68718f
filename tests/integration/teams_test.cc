// Teams on the data plane (issue 15), against a real `cc-relay data-plane` fed by a fake control
// plane on 127.0.0.1:0 that sends a snapshot with users and, when a test says so, usage acks and
// budget grants: relay keys in the three header forms (never forwarded upstream), wrong and
// disabled keys, allowed_models, a user's rpm limit, usage batches and their resend after a
// reconnect, and a budget grant admitting requests until the share is spent.
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include <grpcpp/grpcpp.h>
#include <openssl/sha.h>

#include "proto/stream.grpc.pb.h"
#include "proto/stream.pb.h"
#include "dataplane/common/secret.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_sync_control_plane.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/metrics_text.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;
using v1::ControlPlaneMessage;
using v1::DataPlaneMessage;

constexpr milliseconds kWait{10000};

// Relay keys of the test users (the relay-key shape; not a credential of anything).
const std::string kAlice = "ccr_" + std::string(43, 'A');
const std::string kBob = "ccr_" + std::string(43, 'B');
const std::string kCarol = "ccr_" + std::string(43, 'C');
const std::string kRita = "ccr_" + std::string(43, 'R');
const std::string kDave = "ccr_" + std::string(43, 'D');
const std::string kProviderKey = "sk-prov-team-0001";

using FakeControlPlane = FakeSyncControlPlane;

// What the control plane puts in the snapshot for a relay key: its SHA-256.
std::string Sha256(const std::string& key) {
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

v1::RelayUser* AddUser(v1::RoutingSnapshot* s, const std::string& name, const std::string& key) {
  v1::RelayUser* u = s->mutable_users()->add_users();
  u->set_name(name);
  u->set_key_sha256(Sha256(key));
  u->set_key_fingerprint(common::FingerprintOf(key));
  u->set_enabled(true);
  return u;
}

v1::RoutingSnapshot TeamSnapshot(uint16_t upstream_port, bool provider_keys = true) {
  v1::RoutingSnapshot s;
  s.set_version(1);
  auto* p = s.add_providers();
  p->set_name("anthropic");
  p->set_type("anthropic");
  p->set_enabled(true);
  p->set_base_url("http://127.0.0.1:" + std::to_string(upstream_port));
  if (provider_keys) {
    auto* k = p->add_keys();
    k->set_secret(kProviderKey);
    k->set_enabled(true);
  }
  s.mutable_routing()->set_strategy("failover");
  s.mutable_routing()->set_failover_primary("anthropic");
  AddUser(&s, "alice", kAlice);
  AddUser(&s, "bob", kBob)->mutable_policy()->add_allowed_models("claude-sonnet-*");
  AddUser(&s, "carol", kCarol)->set_enabled(false);
  AddUser(&s, "rita", kRita)->mutable_policy()->set_rpm_limit(2);
  AddUser(&s, "dave", kDave)->mutable_policy()->mutable_budget()->set_tokens_per_day(1000);
  s.mutable_users()->set_key_header("x-team-key");
  s.mutable_users()->set_required(true);
  return s;
}

class TeamsTest : public ::testing::Test {
 public:
  void TearDown() override {
    if (dp_ != nullptr && dp_->running()) {
      dp_->Stop(milliseconds(10000));
    }
    if (HasFailure() && dp_ != nullptr) {
      std::fprintf(stderr, "---- data plane ----\n%s\n", dp_->log().c_str());
    }
  }

  void Start(v1::RoutingSnapshot snapshot) {
    cp_ = std::make_unique<FakeControlPlane>(std::move(snapshot));
    dp_ = std::make_unique<ChildProcess>();
    ASSERT_TRUE(dp_->Start({CCR_RELAY_BINARY, "data-plane", "--control-plane", cp_->Address(),
                            "--listen", "127.0.0.1:0", "--id", "dp-team", "--log-level",
                            "debug"}))
        << dp_->error();
    const std::optional<std::string> port =
        dp_->WaitForValue(" listening address=127.0.0.1:", kWait);
    ASSERT_TRUE(port.has_value()) << "the data plane did not start";
    port_ = static_cast<uint16_t>(std::stoi(*port));
    ASSERT_TRUE(dp_->WaitForLog("snapshot_applied version=1", kWait));
  }

  HttpResponse PostAs(const Headers& auth, std::string_view model = "claude-test-1") {
    Headers headers = {{"content-type", "application/json"}, {"anthropic-version", "2023-06-01"}};
    headers.insert(headers.end(), auth.begin(), auth.end());
    return Fetch(port_, "POST", "/v1/messages", headers, MessageBody(model));
  }

  // Waits for `n` `request` lines of `user` with `status` (the usage record is in by then).
  bool WaitForRequests(const std::string& user, int status, size_t n) {
    return dp_->WaitForLogLines({" request ", "user=" + user + " ", "status=" + std::to_string(status)},
                                n, kWait);
  }

  std::unique_ptr<FakeControlPlane> cp_;
  std::unique_ptr<ChildProcess> dp_;
  uint16_t port_ = 0;
};

// No header value of any upstream request holds a relay key.
void ExpectNoRelayKeyUpstream(const FakeUpstream& fake) {
  for (const RecordedRequest& r : fake.requests()) {
    EXPECT_FALSE(r.HasHeader("x-team-key"));
    for (const auto& [name, value] : r.headers) {
      EXPECT_EQ(value.find("ccr_"), std::string::npos) << "header " << name << " went upstream";
    }
  }
}

TEST_F(TeamsTest, RelayKeysInEachFormPolicyAndRateLimit) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(Start(TeamSnapshot(fake.port())));

  // The three forms.
  HttpResponse api_key = PostAs({{"x-api-key", kAlice}});
  EXPECT_EQ(api_key.status, 200) << api_key.body;
  HttpResponse bearer = PostAs({{"authorization", "Bearer " + kAlice}});
  EXPECT_EQ(bearer.status, 200) << bearer.body;
  HttpResponse header = PostAs({{"x-team-key", kAlice}});
  EXPECT_EQ(header.status, 200) << header.body;
  ASSERT_EQ(fake.request_count(), 3u);
  for (const RecordedRequest& r : fake.requests()) {
    EXPECT_EQ(r.Header("x-api-key"), kProviderKey);
    EXPECT_FALSE(r.HasHeader("authorization"));
  }
  ExpectNoRelayKeyUpstream(fake);
  EXPECT_TRUE(WaitForRequests("alice", 200, 3));
  EXPECT_EQ(dp_->LogLinesWith({" request ", "user_key=" + common::FingerprintOf(kAlice)}).size(),
            3u);

  // Refusals: nothing reaches the upstream, the key is never echoed.
  const std::string wrong_key = "ccr_" + std::string(43, 'W');
  HttpResponse wrong = PostAs({{"x-api-key", wrong_key}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(IsAnthropicError(wrong.body, "authentication_error"));
  EXPECT_NE(wrong.body.find("invalid relay key"), std::string::npos) << wrong.body;
  EXPECT_EQ(wrong.body.find(wrong_key), std::string::npos);
  // Final: Claude Code would retry a plain 401 for minutes.
  EXPECT_EQ(wrong.Header("x-should-retry").value_or(""), "false");
  HttpResponse disabled = PostAs({{"x-api-key", kCarol}});
  EXPECT_EQ(disabled.status, 401);
  EXPECT_NE(disabled.body.find("relay key disabled"), std::string::npos) << disabled.body;
  HttpResponse none = PostAs({});
  EXPECT_EQ(none.status, 401);
  HttpResponse model = PostAs({{"x-api-key", kBob}}, "claude-opus-4-5");
  EXPECT_EQ(model.status, 403);
  EXPECT_TRUE(IsAnthropicError(model.body, "permission_error"));
  EXPECT_NE(model.body.find("model claude-opus-4-5 is not allowed for user bob"),
            std::string::npos)
      << model.body;
  EXPECT_EQ(fake.request_count(), 3u);
  EXPECT_EQ(PostAs({{"x-api-key", kBob}}, "claude-sonnet-4-5").status, 200);

  // rita: rpm 2.
  EXPECT_EQ(PostAs({{"x-api-key", kRita}}).status, 200);
  EXPECT_EQ(PostAs({{"x-api-key", kRita}}).status, 200);
  HttpResponse limited = PostAs({{"x-api-key", kRita}});
  EXPECT_EQ(limited.status, 429);
  EXPECT_TRUE(IsAnthropicError(limited.body, "rate_limit_error"));
  ASSERT_TRUE(limited.Header("retry-after").has_value());
  EXPECT_GE(std::stoi(*limited.Header("retry-after")), 1);

  // dave has a budget and no grant yet: the retryable 429.
  HttpResponse no_grant = PostAs({{"x-api-key", kDave}});
  EXPECT_EQ(no_grant.status, 429);
  EXPECT_EQ(no_grant.Header("retry-after"), "1");

  // Per-user metrics.
  const HttpResponse metrics = Fetch(port_, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("ccrelay_user_requests_total{user=\"alice\"} 3"), std::string::npos);
  EXPECT_NE(metrics.body.find("ccrelay_user_refused_total{user=\"rita\",reason=\"rate_limit\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("ccrelay_user_refused_total{user=\"bob\",reason=\"model\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("ccrelay_user_refused_total{user=\"carol\",reason=\"disabled\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("ccrelay_user_tokens_total{user=\"alice\",kind=\"input\"} 75"),
            std::string::npos);
  EXPECT_EQ(metrics.body.find("ccr_"), std::string::npos);
  // The exposition with the user families passes promtool (Debian package `prometheus`).
  const std::string promtool = FindInPath("promtool");
  ASSERT_FALSE(promtool.empty()) << "promtool is not installed";
  const CommandResult check = RunCommand({promtool, "check", "metrics"}, metrics.body);
  EXPECT_EQ(check.exit_code, 0) << check.output();
  EXPECT_EQ(check.output(), "") << check.output();
}

TEST_F(TeamsTest, SubscriptionBearerPassesThroughNextToTheRelayKeyHeader) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(Start(TeamSnapshot(fake.port(), /*provider_keys=*/false)));
  HttpResponse r = PostAs({{"x-team-key", kAlice}, {"authorization", "Bearer sk-ant-oat01-team"}});
  EXPECT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fake.requests()[0].Header("authorization"), "Bearer sk-ant-oat01-team");
  ExpectNoRelayKeyUpstream(fake);
}

TEST_F(TeamsTest, UsageBatchesArriveAreResentAfterAReconnectAndAcksTrimThem) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(Start(TeamSnapshot(fake.port())));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(PostAs({{"x-api-key", kAlice}}).status, 200);
  }
  ASSERT_EQ(PostAs({}).status, 401);  // anonymous, refused at the session: counted too
  // Sums per key and minute: how many records the 4 requests make depends on the ticks (and a
  // minute boundary); their sums and seqs do not.
  std::vector<v1::UsageRecord> got = cp_->WaitForUsageRequests(0, 4, kWait);
  uint64_t alice = 0;
  uint64_t anonymous = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const v1::UsageRecord& r = got[i];
    EXPECT_EQ(r.seq(), i + 1);
    if (r.user() == "anonymous") {
      anonymous += r.requests();
      EXPECT_EQ(r.status(), 401);
      EXPECT_EQ(r.provider(), "");
      continue;
    }
    alice += r.requests();
    EXPECT_EQ(r.user(), "alice");
    EXPECT_EQ(r.user_key_fingerprint(), common::FingerprintOf(kAlice));
    EXPECT_EQ(r.provider(), "anthropic");
    EXPECT_EQ(r.key_fingerprint(), common::FingerprintOf(kProviderKey));
    EXPECT_EQ(r.status(), 200);
    EXPECT_EQ(r.input_tokens(), 25u * r.requests());
    EXPECT_EQ(r.output_tokens(), 15u * r.requests());
    EXPECT_EQ(r.unix_ms() % 60000, 0);  // the minute's start
    EXPECT_GT(r.unix_ms(), 0);
  }
  EXPECT_EQ(alice, 3u);
  EXPECT_EQ(anonymous, 1u);
  const size_t n = got.size();
  ASSERT_GE(n, 2u);

  // No ack: after a reconnect everything is sent again, from seq 1.
  cp_->Cancel(0);
  ASSERT_TRUE(cp_->WaitForStreams(2, kWait));
  std::vector<v1::UsageRecord> again = cp_->WaitForUsage(1, n, kWait);
  ASSERT_EQ(again.size(), n);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(again[i].SerializeAsString(), got[i].SerializeAsString()) << i;
  }
  // Acknowledged up to n - 1: after the next reconnect only seq n and newer come.
  ControlPlaneMessage ack;
  ack.mutable_usage_ack()->set_committed_seq(n - 1);
  ASSERT_TRUE(cp_->Write(1, ack));
  ASSERT_TRUE(dp_->WaitForLog("usage_acked committed_seq=" + std::to_string(n - 1), kWait));
  ASSERT_EQ(PostAs({{"x-api-key", kAlice}}).status, 200);
  ASSERT_EQ(cp_->WaitForUsage(1, n + 1, kWait).size(), n + 1);
  cp_->Cancel(1);
  ASSERT_TRUE(cp_->WaitForStreams(3, kWait));
  got = cp_->WaitForUsage(2, 2, kWait);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq(), n);
  EXPECT_EQ(got[1].seq(), n + 1);
}

TEST_F(TeamsTest, BudgetGrantAdmitsUntilTheShareIsSpentThenExhausted) {
  FakeUpstream fake;  // 25 input + 15 output tokens per answer
  ASSERT_NO_FATAL_FAILURE(Start(TeamSnapshot(fake.port())));
  ASSERT_EQ(PostAs({{"x-api-key", kDave}}).status, 429);  // no grant yet
  ASSERT_TRUE(cp_->WaitForStreams(1, kWait));

  ControlPlaneMessage grants;
  v1::BudgetGrant* g = grants.mutable_budgets()->add_grants();
  g->set_user("dave");
  g->set_committed_seq(0);
  g->set_tokens(100);
  g->set_period("daily");
  g->set_limit("1000 tokens");
  g->set_warning("91% of the daily budget of 1000 tokens used");
  ASSERT_TRUE(cp_->Write(0, grants));
  ASSERT_TRUE(dp_->WaitForLog("budget_grants_applied grants=1", kWait));

  // 0, 40 and 80 tokens spent are below 100: admitted; 120 is not.
  for (size_t i = 1; i <= 3; ++i) {
    HttpResponse ok = PostAs({{"x-api-key", kDave}});
    ASSERT_EQ(ok.status, 200) << i << ": " << ok.body;
    EXPECT_EQ(ok.Header("x-cc-relay-budget-warning"),
              "91% of the daily budget of 1000 tokens used");
    ASSERT_TRUE(WaitForRequests("dave", 200, i));
  }
  HttpResponse share = PostAs({{"x-api-key", kDave}});
  EXPECT_EQ(share.status, 429);
  EXPECT_EQ(share.Header("retry-after"), "1");
  EXPECT_NE(share.body.find("budget share of this relay in use"), std::string::npos) << share.body;
  EXPECT_EQ(dp_->LogLinesWith({"budget_warning", "user=dave"}).size(), 1u);

  // Exhausted everywhere: the final error, naming the budget.
  ControlPlaneMessage spent;
  v1::BudgetGrant* e = spent.mutable_budgets()->add_grants();
  e->set_user("dave");
  e->set_committed_seq(4);
  e->set_exhausted(true);
  e->set_period("daily");
  e->set_limit("1000 tokens");
  e->set_resets_unix_ms(1798761600000);  // 2027-01-01T00:00:00Z
  ASSERT_TRUE(cp_->Write(0, spent));
  ASSERT_TRUE(dp_->WaitForLogLines({"budget_grants_applied grants=1"}, 2, kWait));
  HttpResponse final_error = PostAs({{"x-api-key", kDave}});
  EXPECT_EQ(final_error.status, 402);
  EXPECT_TRUE(IsAnthropicError(final_error.body, "billing_error"));
  EXPECT_EQ(final_error.Header("x-should-retry").value_or(""), "false");
  EXPECT_NE(final_error.body.find(
                "daily budget of 1000 tokens reached for user dave; resets 2027-01-01T00:00:00Z"),
            std::string::npos)
      << final_error.body;
  EXPECT_EQ(fake.request_count(), 3u);
}

}  // namespace
}  // namespace ccrelay::testing
