#include "dataplane/routing/routing_table.h"

#include <map>
#include <set>

#include "gtest/gtest.h"
#include "proto/snapshot.pb.h"
#include "dataplane/common/secret.h"
#include "dataplane/http/sse_boundary.h"
#include "dataplane/routing/route_request.h"

namespace ccrelay::routing {
namespace {

// A request the strategies here do not look into.
const RouteRequest kAnyRequest{};


v1::RoutingSnapshot TwoProviders(const std::string& strategy) {
  v1::RoutingSnapshot s;
  s.set_version(7);
  s.mutable_server()->set_listen("127.0.0.1:0");
  auto* a = s.add_providers();
  a->set_name("a");
  a->set_type("anthropic");
  a->set_enabled(true);
  a->set_base_url("http://127.0.0.1:9001");
  for (const char* k : {"key-one", "key-two"}) {
    auto* key = a->add_keys();
    key->set_secret(k);
    key->set_enabled(true);
    key->set_weight(1);
  }
  auto* z = s.add_providers();
  z->set_name("z");
  z->set_type("zai");
  z->set_enabled(true);
  z->set_base_url("https://zai.example:8443/api/anthropic/");
  z->add_models("glm-4.7");
  auto* rule = z->add_model_mapping();
  rule->set_from("claude-haiku-*");
  rule->set_to("glm-4.5-air");
  auto* exact = z->add_model_mapping();
  exact->set_from("claude-sonnet-4-5");
  exact->set_to("glm-4.7");
  auto* zk = z->add_keys();
  zk->set_secret("zai-key");
  zk->set_enabled(true);
  s.mutable_routing()->set_strategy(strategy);
  s.mutable_routing()->set_failover_primary("z");
  s.mutable_routing()->add_failover_fallbacks("a");
  return s;
}

TEST(UpstreamUrlTest, ParsesSchemeHostPortAndPrefix) {
  auto u = ParseUpstreamUrl("https://api.z.ai/api/anthropic/");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "api.z.ai");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->host_header, "api.z.ai");
  EXPECT_EQ(u->path_prefix, "/api/anthropic");

  auto plain = ParseUpstreamUrl("http://LocalHost:11434");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->tls);
  EXPECT_EQ(plain->host, "localhost");
  EXPECT_EQ(plain->host_header, "localhost:11434");
  EXPECT_EQ(plain->path_prefix, "");

  auto v6 = ParseUpstreamUrl("http://[::1]:8080/x");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->host_header, "[::1]:8080");
}

TEST(UpstreamUrlTest, RejectsBadUrls) {
  EXPECT_FALSE(ParseUpstreamUrl("ftp://x").ok());
  EXPECT_FALSE(ParseUpstreamUrl("https://").ok());
  EXPECT_FALSE(ParseUpstreamUrl("https://host:99999").ok());
  EXPECT_FALSE(ParseUpstreamUrl("https://host/a?b=c").ok());
  EXPECT_FALSE(ParseUpstreamUrl("https://user@host").ok());
}

TEST(RoutingTableTest, CompilesSnapshot) {
  state::StateRegistry states;
  auto t = CompileRoutingTable(TwoProviders("shuffle"), states);
  ASSERT_TRUE(t.ok()) << t.status();
  const RoutingTable& table = **t;
  EXPECT_EQ(table.version, 7u);
  ASSERT_EQ(table.providers.size(), 2u);
  EXPECT_EQ(table.providers[0].keys.size(), 2u);
  EXPECT_EQ(table.providers[0].keys[0].id, "a/" + common::FingerprintOf("key-one"));
  EXPECT_EQ(table.providers[0].weight, 2u);  // sum of key weights
  EXPECT_TRUE(table.providers[1].url.tls);
  EXPECT_NE(table.providers[1].tls, nullptr);
  EXPECT_EQ(table.providers[0].tls, nullptr);
  EXPECT_EQ(table.strategy->Name(), "shuffle");
  EXPECT_EQ(table.max_attempts, 3u);
  // Defaults filled in for a snapshot that carries zeros.
  EXPECT_EQ(table.max_body_bytes, 32u << 20);
  EXPECT_EQ(table.timeouts.connect.count(), 5000);
  ASSERT_EQ(table.model_entries.size(), 1u);
  EXPECT_EQ(table.model_entries[0].first, "glm-4.7");
  EXPECT_NE(table.model_entries[0].second.find("\"owned_by\":\"zhipu\""), std::string::npos);
  EXPECT_NE(table.model_entries[0].second.find("\"provider\":\"z\""), std::string::npos);
}

TEST(RoutingTableTest, ModelMappingExactAndPrefix) {
  state::StateRegistry states;
  auto t = CompileRoutingTable(TwoProviders("shuffle"), states);
  ASSERT_TRUE(t.ok());
  const ProviderEntry& z = (*t)->providers[1];
  EXPECT_EQ(z.MapModel("claude-haiku-4-5-20251001"), "glm-4.5-air");
  EXPECT_EQ(z.MapModel("claude-sonnet-4-5"), "glm-4.7");
  EXPECT_EQ(z.MapModel("claude-sonnet-4-5-20250929"), "claude-sonnet-4-5-20250929");
  EXPECT_TRUE(z.Serves("glm-4.7"));
  EXPECT_TRUE(z.Serves("claude-haiku-4-5"));
  EXPECT_FALSE(z.Serves("claude-opus-4-8"));
}

TEST(RoutingTableTest, EligibleFallsBackToAllProviders) {
  state::StateRegistry states;
  auto t = CompileRoutingTable(TwoProviders("shuffle"), states);
  ASSERT_TRUE(t.ok());
  std::vector<uint32_t> out;
  (*t)->Eligible("claude-opus-4-8", false, &out);  // only "a" (no models list) serves it
  EXPECT_EQ(out, (std::vector<uint32_t>{0}));
  (*t)->Eligible("claude-haiku-4-5", false, &out);
  EXPECT_EQ(out, (std::vector<uint32_t>{0, 1}));
}

TEST(RoutingTableTest, SurvivingKeysKeepTheirState) {
  state::StateRegistry states;
  auto first = CompileRoutingTable(TwoProviders("shuffle"), states);
  ASSERT_TRUE(first.ok());
  (*first)->providers[0].keys[1].state->requests.store(41);
  auto second = CompileRoutingTable(TwoProviders("round-robin"), states);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->providers[0].keys[1].state->requests.load(), 41u);
  EXPECT_EQ((*second)->providers[0].keys[1].state.get(),
            (*first)->providers[0].keys[1].state.get());
}

TEST(RoutingTableTest, VertexAndAzureSettingsBetaFiltersAndMintedTokens) {
  state::StateRegistry states;
  auto s = TwoProviders("shuffle");
  auto* a = s.mutable_providers(0);
  a->mutable_betas()->add_deny("claude-code-20250219");
  auto* v = s.add_providers();
  v->set_name("v");
  v->set_type("vertex");
  v->set_enabled(true);
  v->set_base_url("https://aiplatform.googleapis.com/v1");
  v->set_gcp_project_id("proj");
  v->set_gcp_region("global");
  auto* vk = v->add_keys();
  vk->set_secret("ya29.minted");
  vk->set_enabled(true);
  vk->set_oauth_token(true);
  auto* az = s.add_providers();
  az->set_name("az");
  az->set_type("azure");
  az->set_enabled(true);
  az->set_base_url("https://res.services.ai.azure.com/anthropic");
  auto* rule = az->add_model_mapping();
  rule->set_from("claude-opus-*");
  rule->set_to("opus-deployment");
  auto* ak = az->add_keys();
  ak->set_secret("az-key");
  ak->set_enabled(true);
  auto table = CompileRoutingTable(s, states);
  ASSERT_TRUE(table.ok()) << table.status();
  const auto& providers = (*table)->providers;
  ASSERT_EQ(providers.size(), 4u);
  // anthropic with a policy filters; zai without one does not; vertex and azure use their tables.
  ASSERT_NE(providers[0].betas, nullptr);
  EXPECT_FALSE(providers[0].betas->Lookup("claude-code-20250219").kept());
  EXPECT_EQ(providers[1].betas, nullptr);
  EXPECT_EQ(providers[2].betas.get(), providers::BetaFilter::Default("vertex"));
  EXPECT_EQ(providers[3].betas.get(), providers::BetaFilter::Default("azure"));
  EXPECT_EQ(providers[2].project, "proj");
  EXPECT_EQ(providers[2].region, "global");
  EXPECT_TRUE(providers[2].keys[0].oauth_token);
  EXPECT_FALSE(providers[3].keys[0].oauth_token);
  // Azure's deployments are served and listed by /v1/models.
  EXPECT_TRUE(providers[3].Serves("opus-deployment"));
  EXPECT_FALSE(providers[1].Serves("glm-4.5-air"));
  bool listed = false;
  for (const auto& [id, json] : (*table)->model_entries) {
    if (id == "opus-deployment") {
      listed = json.find(R"("owned_by":"azure-foundry")") != std::string::npos;
    }
  }
  EXPECT_TRUE(listed);
}

TEST(RoutingTableTest, RejectsUnusableSnapshots) {
  state::StateRegistry states;
  auto bad_type = TwoProviders("shuffle");
  bad_type.mutable_providers(0)->set_type("openai");
  EXPECT_FALSE(CompileRoutingTable(bad_type, states).ok());
  auto bad_strategy = TwoProviders("fastest");
  EXPECT_FALSE(CompileRoutingTable(bad_strategy, states).ok());
  auto bad_ca = TwoProviders("shuffle");
  bad_ca.mutable_providers(1)->set_ca_file("/nonexistent/ca.pem");
  EXPECT_FALSE(CompileRoutingTable(bad_ca, states).ok());
  auto none = TwoProviders("shuffle");
  none.mutable_providers(0)->set_enabled(false);
  none.mutable_providers(1)->set_enabled(false);
  EXPECT_FALSE(CompileRoutingTable(none, states).ok());
}

TEST(StrategyTest, FailoverFollowsTheChain) {
  state::StateRegistry states;
  auto t = CompileRoutingTable(TwoProviders("failover"), states);
  ASSERT_TRUE(t.ok());
  std::vector<uint32_t> eligible = {0, 1};
  std::vector<uint32_t> ranked;
  (*t)->strategy->Rank(**t, kAnyRequest, eligible, &ranked, nullptr);
  EXPECT_EQ(ranked, (std::vector<uint32_t>{1, 0}));
  std::vector<uint32_t> only_a = {0};
  (*t)->strategy->Rank(**t, kAnyRequest, only_a, &ranked, nullptr);
  EXPECT_EQ(ranked, (std::vector<uint32_t>{0}));
}

TEST(StrategyTest, RoundRobinRotatesTheStart) {
  state::StateRegistry states;
  auto t = CompileRoutingTable(TwoProviders("round-robin"), states);
  ASSERT_TRUE(t.ok());
  std::vector<uint32_t> eligible = {0, 1};
  std::vector<uint32_t> r1;
  std::vector<uint32_t> r2;
  (*t)->strategy->Rank(**t, kAnyRequest, eligible, &r1, nullptr);
  (*t)->strategy->Rank(**t, kAnyRequest, eligible, &r2, nullptr);
  ASSERT_EQ(r1.size(), 2u);
  EXPECT_NE(r1[0], r2[0]);
  EXPECT_EQ(r1[1], r2[0]);
}

TEST(StrategyTest, ShuffleIsWeightedAndReturnsEveryCandidate) {
  state::StateRegistry states;
  auto snap = TwoProviders("shuffle");
  snap.mutable_providers(0)->set_weight(9);
  snap.mutable_providers(1)->set_weight(1);
  auto t = CompileRoutingTable(snap, states);
  ASSERT_TRUE(t.ok());
  std::vector<uint32_t> eligible = {0, 1};
  std::map<uint32_t, int> first;
  for (int i = 0; i < 4000; ++i) {
    std::vector<uint32_t> ranked;
    (*t)->strategy->Rank(**t, kAnyRequest, eligible, &ranked, nullptr);
    ASSERT_EQ(std::set<uint32_t>(ranked.begin(), ranked.end()), (std::set<uint32_t>{0, 1}));
    first[ranked[0]]++;
  }
  // Expected 90% / 10%; a generous band keeps the test deterministic in practice.
  EXPECT_GT(first[0], 3300);
  EXPECT_LT(first[0], 3900);
}

TEST(StrategyTest, LeastBusyPrefersFewestInFlightPerWeightAndSpreadsTies) {
  state::StateRegistry states;
  auto snap = TwoProviders("least-busy");
  snap.mutable_providers(0)->set_weight(3);
  snap.mutable_providers(1)->set_weight(1);
  auto t = CompileRoutingTable(snap, states);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ((*t)->strategy->Name(), "least-busy");
  const std::vector<uint32_t> eligible = {0, 1};
  std::vector<uint32_t> r1;
  std::vector<uint32_t> r2;
  // Idle: a tie, taken in turn.
  (*t)->strategy->Rank(**t, kAnyRequest, eligible, &r1, nullptr);
  (*t)->strategy->Rank(**t, kAnyRequest, eligible, &r2, nullptr);
  ASSERT_EQ(r1.size(), 2u);
  EXPECT_NE(r1[0], r2[0]);

  state::ProviderState& p0 = *(*t)->providers[0].state;
  state::ProviderState& p1 = *(*t)->providers[1].state;
  {
    // p0 (weight 3) with 2 in flight is less busy than p1 (weight 1) with 1: 2/3 < 1/1.
    state::InFlight a(&p0);
    state::InFlight b(&p0);
    state::InFlight c(&p1);
    for (int i = 0; i < 4; ++i) {
      (*t)->strategy->Rank(**t, kAnyRequest, eligible, &r1, nullptr);
      EXPECT_EQ(r1, (std::vector<uint32_t>{0, 1}));
    }
    // A third and a fourth on p0: 4/3 > 1/1, p1 first.
    state::InFlight d(&p0);
    state::InFlight e(&p0);
    (*t)->strategy->Rank(**t, kAnyRequest, eligible, &r1, nullptr);
    EXPECT_EQ(r1, (std::vector<uint32_t>{1, 0}));
    EXPECT_EQ(p0.in_flight.load(), 4);
    // An attempt moved to another provider leaves the first.
    e = state::InFlight(&p1);
    EXPECT_EQ(p0.in_flight.load(), 3);
    EXPECT_EQ(p1.in_flight.load(), 2);
  }
  // Every attempt ended: back to zero, ties again.
  EXPECT_EQ(p0.in_flight.load(), 0);
  EXPECT_EQ(p1.in_flight.load(), 0);
}

TEST(KeyWheelTest, WeightedKeysInterleave) {
  state::StateRegistry states;
  auto snap = TwoProviders("shuffle");
  snap.mutable_providers(0)->mutable_keys(0)->set_weight(2);
  auto t = CompileRoutingTable(snap, states);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->providers[0].key_wheel, (std::vector<uint32_t>{0, 1, 0}));
}

TEST(SseBoundaryTest, FindsTheLastCompleteEvent) {
  EXPECT_EQ(http::LastEventBoundary(""), 0u);
  EXPECT_EQ(http::LastEventBoundary("event: a\ndata: {}\n"), 0u);
  const std::string one = "event: a\ndata: {}\n\n";
  EXPECT_EQ(http::LastEventBoundary(one), one.size());
  EXPECT_EQ(http::LastEventBoundary(one + "event: b\nda"), one.size());
  const std::string crlf = "event: a\r\ndata: {}\r\n\r\n";
  EXPECT_EQ(http::LastEventBoundary(crlf + "event"), crlf.size());
  EXPECT_EQ(http::LastEventBoundary(one + one), 2 * one.size());
}

}  // namespace
}  // namespace ccrelay::routing
