// Teams on the data plane: relay keys compiled from the snapshot and looked up by SHA-256 in each
// header form, the users' routing restrictions and `users` rule match, the usage journal's bound,
// batches, rewind and ack, and budget grants turned into caps (pending records, share, exhausted).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/admin.pb.h"
#include "proto/snapshot.pb.h"
#include "dataplane/admin/route_explain.h"
#include "dataplane/common/clock.h"
#include "dataplane/common/secret.h"
#include "dataplane/routing/router.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/state/state_registry.h"
#include "dataplane/team/budget_gate.h"
#include "dataplane/team/relay_auth.h"
#include "dataplane/team/usage_journal.h"

namespace ccrelay::team {
namespace {

// Test keys of the relay-key shape; not secrets of anything.
const std::string kAliceKey = "ccr_" + std::string(43, 'a');
const std::string kBobKey = "ccr_" + std::string(43, 'b');
const std::string kCarolKey = "ccr_" + std::string(43, 'c');

v1::RelayUser* AddUser(v1::RoutingSnapshot* s, const std::string& name, const std::string& key,
                       bool enabled = true) {
  v1::RelayUser* u = s->mutable_users()->add_users();
  u->set_name(name);
  u->set_key_sha256(RelayKeySha256(key));
  u->set_key_fingerprint(common::FingerprintOf(key));
  u->set_enabled(enabled);
  return u;
}

v1::RoutingSnapshot Snapshot() {
  v1::RoutingSnapshot s;
  s.set_version(3);
  for (const char* name : {"a", "b"}) {
    auto* p = s.add_providers();
    p->set_name(name);
    p->set_type("anthropic");
    p->set_enabled(true);
    p->set_base_url("http://127.0.0.1:9001");
    auto* k = p->add_keys();
    k->set_secret(std::string("sk-") + name);
    k->set_enabled(true);
  }
  s.mutable_routing()->set_strategy("failover");
  s.mutable_routing()->set_failover_primary("a");
  s.mutable_routing()->add_failover_fallbacks("b");
  auto* rule = s.mutable_routing()->add_rules();
  rule->set_name("team-b");
  rule->mutable_match()->add_users("bob");
  rule->add_providers("b");
  rule->set_fallback(false);
  AddUser(&s, "alice", kAliceKey);
  v1::RelayUser* bob = AddUser(&s, "bob", kBobKey);
  bob->mutable_policy()->add_allowed_models("claude-sonnet-*");
  AddUser(&s, "carol", kCarolKey, /*enabled=*/false);
  s.mutable_users()->set_key_header("X-CC-Relay-Key");
  s.mutable_users()->set_required(true);
  return s;
}

routing::RoutingTableConstSharedPtr Compile(const v1::RoutingSnapshot& s,
                                            state::StateRegistry& states) {
  auto t = routing::CompileRoutingTable(s, states);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : nullptr;
}

TEST(RelayAuthTest, KeyAcceptedInEachHeaderForm) {
  state::StateRegistry states;
  const auto t = Compile(Snapshot(), states);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->users.key_header, "x-cc-relay-key");

  RelayKeyAuth a = AuthenticateRelayKey(t->users, "", kAliceKey, "");
  ASSERT_EQ(a.result, RelayKeyAuth::Result::kOk) << a.message;
  EXPECT_EQ(a.user->name, "alice");
  EXPECT_EQ(a.user->fingerprint, common::FingerprintOf(kAliceKey));
  EXPECT_EQ(a.method, auth::AuthMethod::kApiKey);

  RelayKeyAuth b = AuthenticateRelayKey(t->users, "", "", "Bearer " + kAliceKey);
  ASSERT_EQ(b.result, RelayKeyAuth::Result::kOk);
  EXPECT_EQ(b.method, auth::AuthMethod::kBearer);

  // The custom-header form: Authorization is the teammate's own subscription (passed through).
  RelayKeyAuth c = AuthenticateRelayKey(t->users, kBobKey, "", "Bearer sk-ant-oat01-xyz");
  ASSERT_EQ(c.result, RelayKeyAuth::Result::kOk);
  EXPECT_EQ(c.user->name, "bob");
  EXPECT_EQ(c.method, auth::AuthMethod::kSubscription);
}

TEST(RelayAuthTest, WrongDisabledAndMissingKeysAreRefusedWithoutEchoingThem) {
  state::StateRegistry states;
  const auto t = Compile(Snapshot(), states);
  ASSERT_NE(t, nullptr);
  const std::string wrong = "ccr_" + std::string(43, 'z');
  RelayKeyAuth w = AuthenticateRelayKey(t->users, "", wrong, "");
  EXPECT_EQ(w.result, RelayKeyAuth::Result::kRefused);
  EXPECT_EQ(w.message, "invalid relay key");
  EXPECT_EQ(w.message.find(wrong), std::string::npos);
  // A prefix of a valid key is not that key.
  EXPECT_EQ(AuthenticateRelayKey(t->users, "", kAliceKey.substr(0, 40), "").result,
            RelayKeyAuth::Result::kRefused);

  RelayKeyAuth d = AuthenticateRelayKey(t->users, "", kCarolKey, "");
  EXPECT_EQ(d.result, RelayKeyAuth::Result::kRefused);
  EXPECT_EQ(d.message, "relay key disabled");
  ASSERT_NE(d.user, nullptr);
  EXPECT_EQ(d.user->name, "carol");

  RelayKeyAuth none = AuthenticateRelayKey(t->users, "", "", "");
  EXPECT_EQ(none.result, RelayKeyAuth::Result::kRefused);
  EXPECT_NE(none.message.find("missing relay key"), std::string::npos);
  EXPECT_EQ(AuthenticateRelayKey(t->users, "", "sk-not-a-relay-key", "").message,
            "invalid relay key");
}

TEST(RelayAuthTest, NotRequiredLeavesKeylessRequestsToServerAuth) {
  v1::RoutingSnapshot s = Snapshot();
  s.mutable_users()->set_required(false);
  state::StateRegistry states;
  const auto t = Compile(s, states);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(AuthenticateRelayKey(t->users, "", "", "").result, RelayKeyAuth::Result::kNone);
  EXPECT_EQ(AuthenticateRelayKey(t->users, "", "sk-proxy", "Bearer x").result,
            RelayKeyAuth::Result::kNone);
  // A relay key that is wrong is still refused.
  EXPECT_EQ(AuthenticateRelayKey(t->users, "", "ccr_nope", "").result,
            RelayKeyAuth::Result::kRefused);
  // No users at all (the last one was removed): a relay key is refused, not let through as an
  // anonymous request; requests without one are server.auth's.
  routing::RelayUsers empty;
  EXPECT_EQ(AuthenticateRelayKey(empty, "", kAliceKey, "").result, RelayKeyAuth::Result::kRefused);
  EXPECT_EQ(AuthenticateRelayKey(empty, "", "", "Bearer " + kAliceKey).result,
            RelayKeyAuth::Result::kRefused);
  EXPECT_EQ(AuthenticateRelayKey(empty, kAliceKey, "", "").result, RelayKeyAuth::Result::kRefused);
  EXPECT_EQ(AuthenticateRelayKey(empty, "", "sk-proxy", "Bearer x").result,
            RelayKeyAuth::Result::kNone);
}

TEST(UserPolicyTest, ModelsProvidersRulesAndUsersMatch) {
  v1::RoutingSnapshot s = Snapshot();
  v1::RelayUser* dave = AddUser(&s, "dave", "ccr_" + std::string(43, 'd'));
  dave->mutable_policy()->add_allowed_providers("b");
  v1::RelayUser* erin = AddUser(&s, "erin", "ccr_" + std::string(43, 'e'));
  erin->mutable_policy()->add_allowed_rules("team-b");
  state::StateRegistry states;
  const auto t = Compile(s, states);
  ASSERT_NE(t, nullptr);
  auto user = [&](const std::string& key) {
    return AuthenticateRelayKey(t->users, "", key, "").user;
  };
  const routing::CompiledUser* bob = user(kBobKey);
  ASSERT_NE(bob, nullptr);
  EXPECT_TRUE(bob->AllowsModel("claude-sonnet-4-5"));
  EXPECT_FALSE(bob->AllowsModel("claude-opus-4-5"));
  EXPECT_TRUE(user(kAliceKey)->AllowsModel("anything"));

  std::vector<uint32_t> ranked;
  routing::RouteDecision d;
  routing::RouteRequest q;
  q.model = "claude-sonnet-4-5";
  // alice: no rule for her, the default route (failover a, b).
  q.user = user(kAliceKey);
  q.client_key = q.user->name;
  routing::Route(*t, q, &ranked, &d, nullptr);
  EXPECT_EQ(ranked, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(d.rule, "");
  // bob: the `users` rule sends him to b only.
  q.user = bob;
  q.client_key = bob->name;
  routing::Route(*t, q, &ranked, &d, nullptr);
  EXPECT_EQ(d.rule, "team-b");
  EXPECT_EQ(ranked, (std::vector<uint32_t>{1}));
  // dave: allowed_providers [b].
  q.user = user("ccr_" + std::string(43, 'd'));
  q.client_key = q.user->name;
  routing::Route(*t, q, &ranked, &d, nullptr);
  EXPECT_EQ(ranked, (std::vector<uint32_t>{1}));
  // erin: only rule team-b, which matches bob only: no route.
  q.user = user("ccr_" + std::string(43, 'e'));
  q.client_key = q.user->name;
  routing::Route(*t, q, &ranked, &d, nullptr);
  EXPECT_TRUE(d.user_refused);
  EXPECT_TRUE(ranked.empty());
}

// route explain --user: the request as the teammate's, so a `users` rule and the user's
// policy show in the explanation as on the request path.
TEST(UserPolicyTest, RouteExplainTakesAUser) {
  state::StateRegistry states;
  const auto t = Compile(Snapshot(), states);
  ASSERT_NE(t, nullptr);
  const auto explain = [&](const std::string& user, const std::string& model,
                           v1::RouteExplanation* out) {
    v1::ExplainRouteRequest r;
    r.set_model(model);
    r.set_user(user);
    return admin::ExplainRoute(*t, r, common::RealClock::Get(), out);
  };
  v1::RouteExplanation bob;
  ASSERT_TRUE(explain("bob", "claude-sonnet-4-5", &bob).ok());
  EXPECT_EQ(bob.rule(), "team-b");
  EXPECT_EQ(bob.first_provider(), "b");
  EXPECT_EQ(bob.request().user(), "bob");
  v1::RouteExplanation alice;
  ASSERT_TRUE(explain("alice", "claude-sonnet-4-5", &alice).ok());
  EXPECT_EQ(alice.rule(), "");
  EXPECT_EQ(alice.first_provider(), "a");
  v1::RouteExplanation nobody;
  ASSERT_TRUE(explain("", "claude-sonnet-4-5", &nobody).ok());  // no user: the default route
  EXPECT_EQ(nobody.rule(), "");
  v1::RouteExplanation ignored;
  const absl::Status unknown = explain("mallory", "claude-sonnet-4-5", &ignored);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound) << unknown;
  EXPECT_NE(unknown.message().find("no user named \"mallory\""), std::string_view::npos);
  const absl::Status model = explain("bob", "claude-opus-4-1", &ignored);
  EXPECT_EQ(model.code(), absl::StatusCode::kFailedPrecondition) << model;
  EXPECT_NE(model.message().find("may not use model claude-opus-4-1"), std::string_view::npos);
}

TEST(UserStateTest, SurvivesRecompileAndLimitsRequests) {
  v1::RoutingSnapshot s = Snapshot();
  s.mutable_users()->mutable_users(0)->mutable_policy()->set_rpm_limit(2);
  state::StateRegistry states;
  const auto t1 = Compile(s, states);
  const auto t2 = Compile(s, states);
  ASSERT_NE(t1, nullptr);
  ASSERT_NE(t2, nullptr);
  const auto* a1 = AuthenticateRelayKey(t1->users, "", kAliceKey, "").user;
  const auto* a2 = AuthenticateRelayKey(t2->users, "", kAliceKey, "").user;
  EXPECT_EQ(a1->state, a2->state);
  const auto now = std::chrono::steady_clock::now();
  common::MonoTime at;
  const char* which = "";
  EXPECT_TRUE(a1->state->TryAcquire(10, now, &at, &which));
  EXPECT_TRUE(a2->state->TryAcquire(10, now, &at, &which));
  EXPECT_FALSE(a1->state->TryAcquire(10, now, &at, &which));
  EXPECT_STREQ(which, "rpm");
  EXPECT_GT(at, now);
}

constexpr int64_t kMinute = 1765022400000;  // 2025-12-06T12:00:00Z, a minute's start

// One finished request of `user` (status 200 unless said) ending `ms_in` into kMinute.
UsageEntry Entry(std::string_view user, double usd, uint64_t tokens, std::string_view model = "m",
                 int64_t ms_in = 1500, int32_t status = 200) {
  UsageEntry e;
  e.user = user;
  e.user_key_fingerprint = user == kAnonymousUser ? "" : "fp-user";
  e.provider = "anthropic";
  e.key_fingerprint = "fp-key";
  e.model = model;
  e.status = status;
  e.unix_ms = kMinute + ms_in;
  e.input_tokens = tokens;
  e.output_tokens = 2;
  e.cache_read_tokens = 3;
  e.cache_creation_tokens = 4;
  e.cost_usd = usd;
  e.duration_ms = 10;
  return e;
}

TEST(UsageJournalTest, EachRequestIsAddedToTheSumOfItsKeyAndMinute) {
  UsageJournal j;
  for (int i = 0; i < 3; ++i) {
    j.Add(Entry("alice", 0.5, 100, "m", 1000 * i), nullptr);
  }
  j.Add(Entry("alice", 1, 7, "other-model"), nullptr);
  j.Add(Entry("alice", 1, 7, "m", 60000), nullptr);  // the next minute
  j.Add(Entry("alice", 0, 0, "m", 2000, 429), nullptr);
  j.Add(Entry("bob", 2, 9), nullptr);
  EXPECT_EQ(j.pending(), 0u);  // sums are sealed by TakeBatch
  v1::UsageBatch b;
  ASSERT_TRUE(j.TakeBatch(&b));
  ASSERT_EQ(b.records_size(), 5);
  EXPECT_EQ(b.instance().size(), 16u);
  EXPECT_EQ(b.instance(), j.instance());
  const v1::UsageRecord& sum = b.records(0);
  EXPECT_EQ(sum.seq(), 1u);
  EXPECT_EQ(sum.user(), "alice");
  EXPECT_EQ(sum.user_key_fingerprint(), "fp-user");
  EXPECT_EQ(sum.provider(), "anthropic");
  EXPECT_EQ(sum.key_fingerprint(), "fp-key");
  EXPECT_EQ(sum.model(), "m");
  EXPECT_EQ(sum.status(), 200);
  EXPECT_EQ(sum.unix_ms(), kMinute);
  EXPECT_EQ(sum.requests(), 3u);
  EXPECT_EQ(sum.input_tokens(), 300u);
  EXPECT_EQ(sum.output_tokens(), 6u);
  EXPECT_EQ(sum.cache_read_tokens(), 9u);
  EXPECT_EQ(sum.cache_creation_tokens(), 12u);
  EXPECT_DOUBLE_EQ(sum.cost_usd(), 1.5);
  EXPECT_EQ(sum.duration_ms(), 30);
  EXPECT_EQ(BudgetTokens(sum), 327u);
  EXPECT_EQ(b.records(1).model(), "other-model");
  EXPECT_EQ(b.records(2).unix_ms(), kMinute + 60000);
  EXPECT_EQ(b.records(3).status(), 429);
  EXPECT_EQ(b.records(4).user(), "bob");
  for (int i = 0; i < b.records_size(); ++i) {
    EXPECT_EQ(b.records(i).seq(), static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(j.pending(), 5u);
  v1::UsageBatch none;
  EXPECT_FALSE(j.TakeBatch(&none));
  // The same key after the tick: a new record.
  j.Add(Entry("alice", 0.5, 100), nullptr);
  v1::UsageBatch next;
  ASSERT_TRUE(j.TakeBatch(&next));
  ASSERT_EQ(next.records_size(), 1);
  EXPECT_EQ(next.records(0).seq(), 6u);
  EXPECT_EQ(next.records(0).requests(), 1u);
}

TEST(UsageJournalTest, SeqFromOneBatchesAckAndRewind) {
  UsageJournal j;
  for (int i = 0; i < 2500; ++i) {
    j.Add(Entry("anonymous", 0, 1, "m" + std::to_string(i)), nullptr);
  }
  v1::UsageBatch b1, b2, b3, b4;
  ASSERT_TRUE(j.TakeBatch(&b1));
  EXPECT_EQ(b1.records_size(), 1000);
  EXPECT_EQ(b1.records(0).seq(), 1u);
  ASSERT_TRUE(j.TakeBatch(&b2));
  EXPECT_EQ(b2.records(0).seq(), 1001u);
  ASSERT_TRUE(j.TakeBatch(&b3));
  EXPECT_EQ(b3.records_size(), 500);
  EXPECT_FALSE(j.TakeBatch(&b4));
  j.Ack(1000);
  EXPECT_EQ(j.pending(), 1500u);
  // A new stream: from the first unacknowledged record.
  j.Rewind();
  v1::UsageBatch again;
  ASSERT_TRUE(j.TakeBatch(&again));
  EXPECT_EQ(again.records(0).seq(), 1001u);
  j.Ack(2500);
  EXPECT_EQ(j.pending(), 0u);
  v1::UsageBatch none;
  EXPECT_FALSE(j.TakeBatch(&none));
  j.Add(Entry("anonymous", 0, 1), nullptr);
  v1::UsageBatch last;
  ASSERT_TRUE(j.TakeBatch(&last));
  EXPECT_EQ(last.records(0).seq(), 2501u);
}

TEST(UsageJournalTest, BoundedDropsTheOldestAndCounts) {
  UsageJournal j(/*capacity=*/10);
  int drops = 0;
  j.set_on_drop([&drops] { ++drops; });
  for (int i = 0; i < 15; ++i) {
    j.Add(Entry("anonymous", 0, 1, "m" + std::to_string(i)), nullptr);
  }
  v1::UsageBatch b;
  ASSERT_TRUE(j.TakeBatch(&b));
  EXPECT_EQ(j.pending(), 10u);
  EXPECT_EQ(j.dropped(), 5u);
  EXPECT_EQ(drops, 5);
  EXPECT_EQ(b.records(0).seq(), 6u);
  EXPECT_EQ(b.records_size(), 10);
}

TEST(UsageJournalTest, OpenSumsOverTheirBoundAreSealedWithoutATick) {
  UsageJournal j;
  for (size_t i = 0; i <= UsageJournal::kMaxOpen; ++i) {
    j.Add(Entry("anonymous", 0, 1, "m" + std::to_string(i)), nullptr);
  }
  EXPECT_EQ(j.pending(), UsageJournal::kMaxOpen);
  EXPECT_EQ(j.last_seq(), UsageJournal::kMaxOpen);
}

TEST(BudgetGateTest, GrantCapsCountPendingRecordsAndTheShare) {
  UsageJournal j;
  state::UserState alice;
  // No grant yet: retryable refusal.
  EXPECT_EQ(CheckBudget(alice).kind, BudgetVerdict::Kind::kNoGrant);
  // Spend 3 x $1 (sealed as seq 1: $1, seq 2: $2), and $5 of another user (seq 3).
  j.Add(Entry("alice", 1.0, 91), &alice);
  v1::UsageBatch b;
  ASSERT_TRUE(j.TakeBatch(&b));
  j.Add(Entry("alice", 1.0, 91), &alice);
  j.Add(Entry("alice", 1.0, 91), &alice);
  state::UserState bob;
  j.Add(Entry("bob", 5.0, 91), &bob);
  ASSERT_TRUE(j.TakeBatch(&b));
  EXPECT_EQ(j.last_seq(), 3u);
  EXPECT_DOUBLE_EQ(alice.spent_usd(), 3.0);
  EXPECT_EQ(alice.spent_tokens(), 300u);
  // The control plane has committed up to seq 1 and grants $2.50: seq 2 ($2) is not in its
  // numbers yet, so $0.50 is left here.
  v1::BudgetGrant g;
  g.set_user("alice");
  g.set_committed_seq(1);
  g.set_usd(2.5);
  g.set_tokens(1000);
  alice.SetGrant(j.MakeGrant(g, alice));
  EXPECT_DOUBLE_EQ(alice.grant()->cap_usd, 3.5);
  EXPECT_EQ(alice.grant()->cap_tokens, 1100u);
  EXPECT_EQ(CheckBudget(alice).kind, BudgetVerdict::Kind::kAdmit);
  // The next request crosses the cap (it finishes anyway); the one after is refused.
  j.Add(Entry("alice", 0.75, 1), &alice);
  EXPECT_EQ(CheckBudget(alice).kind, BudgetVerdict::Kind::kShareUsedUp);
  // Tokens alone can use the share up too.
  ASSERT_TRUE(j.TakeBatch(&b));  // seq 4
  v1::BudgetGrant tokens_only;
  tokens_only.set_user("alice");
  tokens_only.set_committed_seq(4);
  tokens_only.set_tokens(5);
  alice.SetGrant(j.MakeGrant(tokens_only, alice));
  EXPECT_FALSE(alice.grant()->has_usd);
  EXPECT_EQ(CheckBudget(alice).kind, BudgetVerdict::Kind::kAdmit);
  j.Add(Entry("alice", 0, 0), &alice);  // 2 + 3 + 4 tokens of output and cache
  EXPECT_EQ(CheckBudget(alice).kind, BudgetVerdict::Kind::kShareUsedUp);
  // Exhausted: the final error, naming the budget.
  v1::BudgetGrant spent;
  spent.set_user("alice");
  spent.set_exhausted(true);
  spent.set_period("monthly");
  spent.set_limit("$50.00");
  spent.set_resets_unix_ms(1798761600000);  // 2027-01-01T00:00:00Z
  alice.SetGrant(j.MakeGrant(spent, alice));
  const BudgetVerdict v = CheckBudget(alice);
  ASSERT_EQ(v.kind, BudgetVerdict::Kind::kExhausted);
  EXPECT_EQ(BudgetExhaustedMessage(*v.grant, "alice"),
            "monthly budget of $50.00 reached for user alice; resets 2027-01-01T00:00:00Z");
  EXPECT_EQ(kBudgetExhaustedStatus, 402);
}

TEST(BudgetGateTest, AnOpenSumIsSpendTheControlPlaneHasNotCounted) {
  UsageJournal j;
  state::UserState alice;
  j.Add(Entry("alice", 2.0, 91), &alice);  // not sealed yet: after any committed seq
  v1::BudgetGrant g;
  g.set_user("alice");
  g.set_committed_seq(1000);
  g.set_usd(1.0);
  alice.SetGrant(j.MakeGrant(g, alice));
  EXPECT_DOUBLE_EQ(alice.grant()->cap_usd, 1.0);
  EXPECT_EQ(CheckBudget(alice).kind, BudgetVerdict::Kind::kShareUsedUp);
  // Sealed and committed, the same $2 is the control plane's: the share is on top of it.
  v1::UsageBatch b;
  ASSERT_TRUE(j.TakeBatch(&b));
  g.set_committed_seq(b.records(0).seq());
  alice.SetGrant(j.MakeGrant(g, alice));
  EXPECT_DOUBLE_EQ(alice.grant()->cap_usd, 3.0);
  EXPECT_EQ(CheckBudget(alice).kind, BudgetVerdict::Kind::kAdmit);
}

TEST(BudgetGateTest, WarningIsMadeHeaderSafe) {
  UsageJournal j;
  state::UserState u;
  v1::BudgetGrant g;
  g.set_user("u");
  g.set_usd(1);
  g.set_warning("82% of the monthly budget\r\nx-evil: 1");
  const auto grant = j.MakeGrant(g, u);
  EXPECT_EQ(grant->warning.find('\r'), std::string::npos);
  EXPECT_EQ(grant->warning.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace ccrelay::team
