// The cost-based strategy on tables compiled from snapshots: cheapest capable provider first,
// exclusions with why, never empty, ties in turn, threshold_tokens, learned output tokens.
#include "dataplane/routing/strategies/cost_based.h"

#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/snapshot.pb.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/routing/explanation.h"
#include "dataplane/routing/route_request.h"
#include "dataplane/routing/router.h"
#include "dataplane/routing/routing_table.h"

namespace ccrelay::routing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::Provider* AddProvider(v1::RoutingSnapshot* s, const std::string& name,
                          const std::string& type, const std::string& maps_to) {
  auto* p = s->add_providers();
  p->set_name(name);
  p->set_type(type);
  p->set_enabled(true);
  p->set_base_url("http://127.0.0.1:9");
  auto* k = p->add_keys();
  k->set_secret(name + "-key");
  k->set_enabled(true);
  k->set_weight(1);
  if (!maps_to.empty()) {
    auto* m = p->add_model_mapping();
    m->set_from("claude-*");
    m->set_to(maps_to);
  }
  return p;
}

// claude (anthropic, Sonnet 4.5: 3/15), zai (glm-4.7: 0.60/2.20, 200k, no images),
// local (ollama, free, 32768 tokens, tier small).
v1::RoutingSnapshot ThreeProviders() {
  v1::RoutingSnapshot s;
  s.set_version(1);
  s.mutable_server()->set_listen("127.0.0.1:0");
  AddProvider(&s, "claude", "anthropic", "");
  AddProvider(&s, "zai", "zai", "glm-4.7");
  auto* local = AddProvider(&s, "local", "ollama", "qwen3-coder");
  local->set_context_window(32768);
  local->set_tier("small");
  s.mutable_routing()->set_strategy("cost-based");
  return s;
}

struct Ranked {
  std::vector<std::string> names;
  Explanation explain;
};

Ranked RouteOnce(const RoutingTable& t, const RouteRequest& r) {
  std::vector<uint32_t> ranked;
  RouteDecision d;
  Ranked out;
  Route(t, r, &ranked, &d, &out.explain);
  for (uint32_t i : ranked) {
    out.names.push_back(t.providers[i].name);
  }
  return out;
}

std::string ExcludedReason(const RoutingTable& t, const Explanation& e, const std::string& name) {
  for (const ExcludedProvider& x : e.excluded) {
    if (t.providers[x.provider].name == name) {
      return x.reason;
    }
  }
  return "";
}

RouteRequest Request(int64_t input_tokens) {
  RouteRequest r;
  r.model = "claude-sonnet-4-5";
  r.input_tokens = input_tokens;
  r.max_tokens = 4000;
  return r;
}

class CostBasedTest : public ::testing::Test {
 protected:
  void Compile(const v1::RoutingSnapshot& s) {
    auto t = CompileRoutingTable(s, states_);
    ASSERT_TRUE(t.ok()) << t.status();
    table_ = *t;
  }
  state::StateRegistry states_;
  RoutingTableConstSharedPtr table_;
};

TEST_F(CostBasedTest, CheapestFirstWithExpectedCosts) {
  Compile(ThreeProviders());
  EXPECT_EQ(table_->strategy->Name(), "cost-based");
  const Ranked r = RouteOnce(*table_, Request(10000));
  EXPECT_THAT(r.names, ElementsAre("local", "zai", "claude"));
  ASSERT_EQ(r.explain.ranked.size(), 3u);
  // No output learned yet: min(max_tokens, 1000) = 1000 expected output tokens.
  EXPECT_DOUBLE_EQ(r.explain.ranked[0].expected_cost_usd, 0);
  EXPECT_THAT(r.explain.ranked[0].note, HasSubstr("cheapest"));
  EXPECT_THAT(r.explain.ranked[0].note, HasSubstr("free (ollama)"));
  EXPECT_NEAR(r.explain.ranked[1].expected_cost_usd, (10000 * 0.60 + 1000 * 2.20) / 1e6, 1e-12);
  EXPECT_EQ(r.explain.ranked[1].model, "glm-4.7");
  EXPECT_NEAR(r.explain.ranked[2].expected_cost_usd, (10000 * 3.0 + 1000 * 15.0) / 1e6, 1e-12);
  EXPECT_TRUE(r.explain.excluded.empty());
}

TEST_F(CostBasedTest, TooLongForTheContextWindowGoesElsewhere) {
  Compile(ThreeProviders());
  Ranked r = RouteOnce(*table_, Request(50000));
  EXPECT_THAT(r.names, ElementsAre("zai", "claude"));
  EXPECT_EQ(ExcludedReason(*table_, r.explain, "local"),
            "context window 32768 < estimated 50000 tokens");
  // Claude's window is 200k too, unless the request has the 1M beta (Sonnet 4.5 takes it).
  RouteRequest beta = Request(250000);
  beta.betas = "claude-code-20250219,context-1m-2025-08-07";
  r = RouteOnce(*table_, beta);
  EXPECT_THAT(r.names, ElementsAre("claude"));
  EXPECT_EQ(ExcludedReason(*table_, r.explain, "zai"),
            "context window 200000 < estimated 250000 tokens");
  // Without it nothing fits: all kept, cheapest first (the upstream decides).
  r = RouteOnce(*table_, Request(250000));
  EXPECT_THAT(r.names, ElementsAre("local", "zai", "claude"));
  EXPECT_TRUE(r.explain.excluded.empty());
  EXPECT_THAT(r.explain.ranked[2].note,
              HasSubstr("context window 200000 < estimated 250000 tokens"));
}

TEST_F(CostBasedTest, CapabilitiesExclude) {
  Compile(ThreeProviders());
  RouteRequest images = Request(1000);
  images.set_images(true);
  Ranked r = RouteOnce(*table_, images);
  EXPECT_THAT(r.names, ElementsAre("local", "claude"));
  EXPECT_EQ(ExcludedReason(*table_, r.explain, "zai"), "model glm-4.7: no images");

  RouteRequest search = Request(1000);
  search.server_tools = http::kWebSearch;
  r = RouteOnce(*table_, search);
  EXPECT_THAT(r.names, ElementsAre("claude"));
  EXPECT_EQ(ExcludedReason(*table_, r.explain, "zai"), "provider type zai: no web_search");
  EXPECT_EQ(ExcludedReason(*table_, r.explain, "local"), "provider type ollama: no web_search");
}

TEST_F(CostBasedTest, ConfiguredCapabilitiesReplaceTheTypes) {
  v1::RoutingSnapshot s = ThreeProviders();
  s.mutable_providers(2)->set_capabilities_set(true);  // local: nothing
  Compile(s);
  RouteRequest thinking = Request(1000);
  thinking.thinking = true;
  const Ranked r = RouteOnce(*table_, thinking);
  EXPECT_THAT(r.names, ElementsAre("zai", "claude"));
  EXPECT_EQ(ExcludedReason(*table_, r.explain, "local"), "providers[].capabilities: no thinking");
}

TEST_F(CostBasedTest, QualityFloorForThinking) {
  v1::RoutingSnapshot s = ThreeProviders();
  s.mutable_routing()->mutable_cost_based()->set_floor_thinking("medium");
  Compile(s);
  RouteRequest thinking = Request(1000);
  thinking.thinking = true;
  Ranked r = RouteOnce(*table_, thinking);
  EXPECT_THAT(r.names, ElementsAre("zai", "claude"));
  EXPECT_EQ(ExcludedReason(*table_, r.explain, "local"),
            "tier small below the quality floor medium");
  // Without thinking the floor does not apply.
  r = RouteOnce(*table_, Request(1000));
  EXPECT_THAT(r.names, ElementsAre("local", "zai", "claude"));
}

TEST_F(CostBasedTest, NothingFitsKeepsAllCheapestFirst) {
  v1::RoutingSnapshot s;
  s.mutable_server()->set_listen("127.0.0.1:0");
  AddProvider(&s, "zai", "zai", "glm-4.7");
  AddProvider(&s, "local", "ollama", "qwen3-coder");
  s.mutable_routing()->set_strategy("cost-based");
  Compile(s);
  RouteRequest search = Request(1000);
  search.server_tools = http::kWebSearch;
  const Ranked r = RouteOnce(*table_, search);
  EXPECT_THAT(r.names, ElementsAre("local", "zai"));
  EXPECT_TRUE(r.explain.excluded.empty());
  EXPECT_THAT(r.explain.ranked[0].note, HasSubstr("no provider fits the request: all kept"));
  EXPECT_THAT(r.explain.ranked[1].note, HasSubstr("provider type zai: no web_search"));
}

TEST_F(CostBasedTest, TiesTakeTurns) {
  v1::RoutingSnapshot s;
  s.mutable_server()->set_listen("127.0.0.1:0");
  AddProvider(&s, "ollama-a", "ollama", "qwen3-coder");
  AddProvider(&s, "ollama-b", "ollama", "qwen3-coder");
  AddProvider(&s, "claude", "anthropic", "");
  s.mutable_routing()->set_strategy("cost-based");
  Compile(s);
  std::multiset<std::string> firsts;
  for (int i = 0; i < 10; ++i) {
    const Ranked r = RouteOnce(*table_, Request(1000));
    ASSERT_EQ(r.names.size(), 3u);
    EXPECT_EQ(r.names[2], "claude");
    firsts.insert(r.names[0]);
    if (i == 0) {
      EXPECT_THAT(r.explain.ranked[0].note, HasSubstr("tie, in turn"));
    }
  }
  EXPECT_EQ(firsts.count("ollama-a"), 5u);
  EXPECT_EQ(firsts.count("ollama-b"), 5u);
}

TEST_F(CostBasedTest, UnknownPriceRanksAfterPricedOnes) {
  v1::RoutingSnapshot s;
  s.mutable_server()->set_listen("127.0.0.1:0");
  AddProvider(&s, "mystery", "zai", "not-a-glm");
  AddProvider(&s, "claude", "anthropic", "");
  s.mutable_routing()->set_strategy("cost-based");
  Compile(s);
  const Ranked r = RouteOnce(*table_, Request(1000));
  EXPECT_THAT(r.names, ElementsAre("claude", "mystery"));
  EXPECT_EQ(r.explain.ranked[1].expected_cost_usd, -1);
  EXPECT_THAT(r.explain.ranked[1].note, HasSubstr("price unknown"));
  // A price in config makes it comparable.
  auto* price = s.mutable_providers(0)->add_pricing();
  price->set_model("not-a-glm");
  price->set_input_per_mtok(0.1);
  price->set_output_per_mtok(0.1);
  Compile(s);
  EXPECT_THAT(RouteOnce(*table_, Request(1000)).names, ElementsAre("mystery", "claude"));
}

TEST_F(CostBasedTest, AboveThresholdQualityFirst) {
  v1::RoutingSnapshot s = ThreeProviders();
  s.mutable_routing()->mutable_cost_based()->set_threshold_tokens(20000);
  Compile(s);
  RouteRequest opus = Request(25000);
  opus.model = "claude-opus-4-8";  // large on claude; zai maps it to glm-4.7 (medium)
  Ranked r = RouteOnce(*table_, opus);
  EXPECT_THAT(r.names, ElementsAre("claude", "zai", "local"));
  EXPECT_THAT(r.explain.ranked[0].note, HasSubstr("above threshold_tokens 20000: quality first"));
  opus.input_tokens = 10000;  // below: cheapest first
  r = RouteOnce(*table_, opus);
  EXPECT_THAT(r.names, ElementsAre("local", "zai", "claude"));
}

TEST_F(CostBasedTest, LearnedOutputTokensEnterTheCost) {
  Compile(ThreeProviders());
  EXPECT_EQ(ExpectedOutputTokens(*table_, "claude-sonnet-4-5", 0), kDefaultOutputTokens);
  EXPECT_EQ(ExpectedOutputTokens(*table_, "claude-sonnet-4-5", 300), 300);
  Outcome o;
  o.provider = 0;
  o.model = "claude-sonnet-4-5";
  o.status = 200;
  o.complete = true;
  o.output_tokens = 3000;
  Learn(*table_, o);
  o.status = 500;  // not learned: failed
  o.output_tokens = 1;
  Learn(*table_, o);
  o.status = 200;
  o.complete = false;  // not learned: cut
  Learn(*table_, o);
  EXPECT_EQ(ExpectedOutputTokens(*table_, "claude-sonnet-4-5", 0), 3000);
  EXPECT_EQ(ExpectedOutputTokens(*table_, "claude-sonnet-4-5", 2000), 2000);  // capped
  const Ranked r = RouteOnce(*table_, Request(10000));  // max_tokens 4000
  EXPECT_NEAR(r.explain.ranked[1].expected_cost_usd, (10000 * 0.60 + 3000 * 2.20) / 1e6, 1e-12);
  // A reload keeps what was learned (the estimator lives in the state registry).
  Compile(ThreeProviders());
  EXPECT_EQ(ExpectedOutputTokens(*table_, "claude-sonnet-4-5", 0), 3000);
}

TEST_F(CostBasedTest, WithoutExplainSameOrder) {
  Compile(ThreeProviders());
  std::vector<uint32_t> ranked;
  RouteDecision d;
  RouteRequest r = Request(50000);
  Route(*table_, r, &ranked, &d, nullptr);
  ASSERT_EQ(ranked.size(), 2u);
  EXPECT_EQ(table_->providers[ranked[0]].name, "zai");
  EXPECT_EQ(d.strategy, "cost-based");
}

}  // namespace
}  // namespace ccrelay::routing
