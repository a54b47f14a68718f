// Scenario rules (routing.rules): globs, each match condition, the first matching rule's
// providers and model in Route(), fallback to the others, explain's account, compile errors.
#include "dataplane/routing/rules.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/snapshot.pb.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/routing/router.h"
#include "dataplane/routing/routing_table.h"

namespace ccrelay::routing {
namespace {

class MapHeaders : public HeaderLookup {
 public:
  using Map = std::map<std::string, std::string>;
  explicit MapHeaders(Map h) : h_(std::move(h)) {}
  std::string_view Get(std::string_view name) const override {
    auto it = h_.find(std::string(name));
    return it == h_.end() ? std::string_view() : std::string_view(it->second);
  }

 private:
  std::map<std::string, std::string> h_;
};

TEST(GlobTest, StarAndQuestionMarkAnywhere) {
  EXPECT_TRUE(Glob("*haiku*").Matches("claude-haiku-4-5-20251001"));
  EXPECT_TRUE(Glob("*haiku*").Matches("haiku"));
  EXPECT_FALSE(Glob("*haiku*").Matches("claude-sonnet-4-5"));
  EXPECT_TRUE(Glob("claude-*-4-5").Matches("claude-opus-4-5"));
  EXPECT_FALSE(Glob("claude-*-4-5").Matches("claude-opus-4-5-20251101"));
  EXPECT_TRUE(Glob("glm-4.?").Matches("glm-4.7"));
  EXPECT_FALSE(Glob("glm-4.?").Matches("glm-4.75"));
  EXPECT_TRUE(Glob("route-cheap").Matches("route-cheap"));
  EXPECT_FALSE(Glob("route-cheap").Matches("Route-cheap")) << "case-sensitive";
  EXPECT_TRUE(Glob("*").Matches(""));
  EXPECT_TRUE(Glob("a*b*c").Matches("aXXbYYbZc"));
  EXPECT_FALSE(Glob("a*b*c").Matches("aXXbYYbZ"));
  EXPECT_TRUE(Glob("**x").Matches("x"));
}

TEST(GlobTest, ValidateRefusesEmptyAndControlCharacters) {
  EXPECT_TRUE(Glob::Validate("*haiku*").ok());
  EXPECT_FALSE(Glob::Validate("").ok());
  EXPECT_FALSE(Glob::Validate("a\nb").ok());
}

const std::vector<Glob> kBackground = {Glob("*haiku*")};

TEST(RuleTest, EveryConditionSetMustHold) {
  Rule r;
  r.thinking = true;
  r.long_context = 1000;
  RouteRequest q;
  q.model = "claude-opus-4-8";
  q.thinking = true;
  q.input_tokens = 1001;
  EXPECT_TRUE(r.Matches(q, kBackground));
  q.input_tokens = 1000;
  EXPECT_FALSE(r.Matches(q, kBackground)) << "long_context: strictly above";
  q.input_tokens = 5000;
  q.thinking = false;
  EXPECT_FALSE(r.Matches(q, kBackground));
}

TEST(RuleTest, ModelGlobsAnyOfThem) {
  Rule r;
  r.models = {Glob("route-cheap"), Glob("route-free*")};
  RouteRequest q;
  q.model = "route-free-2";
  EXPECT_TRUE(r.Matches(q, kBackground));
  q.model = "route-cheap";
  EXPECT_TRUE(r.Matches(q, kBackground));
  q.model = "claude-sonnet-4-5";
  EXPECT_FALSE(r.Matches(q, kBackground));
}

TEST(RuleTest, BackgroundIsTheBackgroundModels) {
  Rule bg;
  bg.background = true;
  Rule fg;
  fg.background = false;
  RouteRequest q;
  q.model = "claude-haiku-4-5-20251001";
  EXPECT_TRUE(bg.Matches(q, kBackground));
  EXPECT_FALSE(fg.Matches(q, kBackground));
  q.model = "claude-opus-4-8";
  EXPECT_FALSE(bg.Matches(q, kBackground));
  EXPECT_TRUE(fg.Matches(q, kBackground));
  const std::vector<Glob> custom = {Glob("glm-4.5-air")};
  q.model = "glm-4.5-air";
  EXPECT_TRUE(bg.Matches(q, custom));
}

TEST(RuleTest, ToolsAnyOfThemImagesAndHeaders) {
  Rule tools;
  tools.tools = http::kWebSearch | http::kWebFetch;
  RouteRequest q;
  q.model = "m";
  EXPECT_FALSE(tools.Matches(q, kBackground));
  q.server_tools = http::kWebFetch | http::kBash;
  EXPECT_TRUE(tools.Matches(q, kBackground));
  q.server_tools = http::kBash;
  EXPECT_FALSE(tools.Matches(q, kBackground));

  Rule images;
  images.images = true;
  EXPECT_FALSE(images.Matches(q, kBackground));
  q.set_images(true);
  EXPECT_TRUE(images.Matches(q, kBackground));

  Rule header;
  header.headers = {HeaderCondition{"x-route", Glob("cheap*")}};
  EXPECT_FALSE(header.Matches(q, kBackground)) << "no header lookup: no header match";
  const MapHeaders cheap(MapHeaders::Map{{"x-route", "cheap-1"}});
  const MapHeaders other(MapHeaders::Map{{"x-route", "strong"}});
  const MapHeaders none(MapHeaders::Map{});
  q.headers = &cheap;
  EXPECT_TRUE(header.Matches(q, kBackground));
  q.headers = &other;
  EXPECT_FALSE(header.Matches(q, kBackground));
  header.headers = {HeaderCondition{"x-route", Glob("*")}};
  q.headers = &none;
  EXPECT_FALSE(header.Matches(q, kBackground)) << "an absent header never matches";
  q.headers = &other;
  EXPECT_TRUE(header.Matches(q, kBackground));
}

void AddProvider(v1::RoutingSnapshot* s, const std::string& name, int port,
                 std::vector<std::string> models = {}) {
  auto* p = s->add_providers();
  p->set_name(name);
  p->set_type("anthropic");
  p->set_enabled(true);
  p->set_base_url("http://127.0.0.1:" + std::to_string(port));
  for (auto& m : models) {
    p->add_models(m);
  }
  auto* k = p->add_keys();
  k->set_secret("key-" + name);
  k->set_enabled(true);
}

// Providers main (0), cheap (1), strong (2), big (3); round-robin by default.
v1::RoutingSnapshot FourProviders() {
  v1::RoutingSnapshot s;
  s.set_version(1);
  AddProvider(&s, "main", 9001);
  AddProvider(&s, "cheap", 9002);
  AddProvider(&s, "strong", 9003);
  AddProvider(&s, "big", 9004);
  s.mutable_routing()->set_strategy("round-robin");
  s.mutable_routing()->add_background_models("*haiku*");
  return s;
}

v1::RoutingRule* AddRule(v1::RoutingSnapshot* s, const std::string& name,
                         std::vector<std::string> providers) {
  auto* r = s->mutable_routing()->add_rules();
  r->set_name(name);
  for (auto& p : providers) {
    r->add_providers(p);
  }
  return r;
}

RoutingTableConstSharedPtr Compile(const v1::RoutingSnapshot& s, state::StateRegistry& states) {
  auto t = CompileRoutingTable(s, states);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : nullptr;
}

TEST(RouteRulesTest, FirstMatchingRuleNarrowsTheProvidersAndOverridesTheModel) {
  v1::RoutingSnapshot s = FourProviders();
  auto* bg = AddRule(&s, "background", {"cheap"});
  bg->mutable_match()->set_background(true);
  bg->set_model("glm-4.5-air");
  auto* think = AddRule(&s, "thinking", {"strong", "main"});
  think->mutable_match()->set_thinking(true);
  think->set_strategy("ordered");
  state::StateRegistry states;
  auto t = Compile(s, states);
  ASSERT_NE(t, nullptr);

  RouteRequest q;
  q.model = "claude-haiku-4-5";
  q.thinking = true;  // both match: the first wins
  std::vector<uint32_t> ranked;
  RouteDecision d;
  Route(*t, q, &ranked, &d, nullptr);
  EXPECT_EQ(d.rule, "background");
  EXPECT_EQ(d.model, "glm-4.5-air");
  EXPECT_EQ(d.strategy, "round-robin");
  EXPECT_EQ(d.rule_providers, 1u);
  ASSERT_EQ(ranked.size(), 4u) << "fallback (the default): the others after the rule's";
  EXPECT_EQ(ranked[0], 1u);

  q.model = "claude-opus-4-8";
  for (int i = 0; i < 3; ++i) {  // ordered: always the rule's order
    Route(*t, q, &ranked, &d, nullptr);
    EXPECT_EQ(d.rule, "thinking");
    EXPECT_EQ(d.model, "claude-opus-4-8");
    EXPECT_EQ(d.strategy, "ordered");
    EXPECT_EQ(d.rule_providers, 2u);
    ASSERT_EQ(ranked.size(), 4u);
    EXPECT_EQ(ranked[0], 2u);
    EXPECT_EQ(ranked[1], 0u);
  }

  q.thinking = false;
  Route(*t, q, &ranked, &d, nullptr);
  EXPECT_EQ(d.rule, "");
  EXPECT_EQ(d.rule_providers, 0u);
  EXPECT_EQ(ranked.size(), 4u);
}

TEST(RouteRulesTest, WithoutFallbackOnlyTheRulesProvidersAndExplainSaysWhy) {
  v1::RoutingSnapshot s = FourProviders();
  auto* web = AddRule(&s, "web", {"big", "strong"});
  web->mutable_match()->add_tools("web_search");
  web->set_fallback(false);
  web->set_strategy("ordered");
  state::StateRegistry states;
  auto t = Compile(s, states);
  ASSERT_NE(t, nullptr);
  RouteRequest q;
  q.model = "claude-sonnet-4-5";
  q.server_tools = http::kWebSearch;
  std::vector<uint32_t> ranked;
  RouteDecision d;
  Explanation x;
  Route(*t, q, &ranked, &d, &x);
  EXPECT_EQ(ranked, (std::vector<uint32_t>{3, 2}));
  EXPECT_EQ(x.rule, "web");
  EXPECT_EQ(x.strategy, "ordered");
  ASSERT_EQ(x.ranked.size(), 2u);
  EXPECT_EQ(x.ranked[0].provider, 3u);
  EXPECT_EQ(x.ranked[0].model, "claude-sonnet-4-5");
  ASSERT_EQ(x.excluded.size(), 2u);
  for (const ExcludedProvider& e : x.excluded) {
    EXPECT_TRUE(e.provider == 0 || e.provider == 1);
    EXPECT_EQ(e.reason, "not in rule web's providers (fallback: false)");
  }
}

TEST(RouteRulesTest, FallbackEntriesAreNotedAndIneligibleRuleProvidersLeftOut) {
  v1::RoutingSnapshot s = FourProviders();
  // "cheap" lists its models: it does not serve claude-opus-4-8.
  s.mutable_providers(1)->add_models("glm-4.7");
  auto* r = AddRule(&s, "all", {"cheap", "big"});
  r->mutable_match()->add_models("claude-*");
  state::StateRegistry states;
  auto t = Compile(s, states);
  ASSERT_NE(t, nullptr);
  RouteRequest q;
  q.model = "claude-opus-4-8";
  std::vector<uint32_t> ranked;
  RouteDecision d;
  Explanation x;
  Route(*t, q, &ranked, &d, &x);
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_EQ(ranked[0], 3u) << "big: the only rule provider serving the model";
  EXPECT_EQ(d.rule_providers, 1u);
  ASSERT_EQ(x.ranked.size(), 3u);
  EXPECT_EQ(x.ranked[0].note, "");
  EXPECT_EQ(x.ranked[1].note, "fallback: not in rule all's providers");
  ASSERT_EQ(x.excluded.size(), 1u);
  EXPECT_EQ(x.excluded[0].provider, 1u);
  EXPECT_EQ(x.excluded[0].reason, "does not serve model claude-opus-4-8");
}

TEST(RouteRulesTest, CompileResolvesNamesAndSetsImageSearch) {
  v1::RoutingSnapshot s = FourProviders();
  s.mutable_providers(2)->set_enabled(false);  // "strong" disabled: left out of the rule
  auto* r = AddRule(&s, "img", {"strong", "big"});
  r->mutable_match()->set_images(true);
  auto* h = r->mutable_match()->add_headers();
  h->set_name("X-Route");
  h->set_value("cheap");
  state::StateRegistry states;
  auto t = Compile(s, states);
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->rules.size(), 1u);
  EXPECT_EQ(t->rules[0].providers, (std::vector<uint32_t>{2}));  // big, index 2 of 3 enabled
  ASSERT_EQ(t->rules[0].headers.size(), 1u);
  EXPECT_EQ(t->rules[0].headers[0].name, "x-route");
  EXPECT_TRUE(t->rules[0].fallback);
  EXPECT_EQ(t->rules[0].strategy, nullptr);

  v1::RoutingSnapshot plain = FourProviders();
  plain.mutable_routing()->clear_background_models();
  auto p = Compile(plain, states);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->background_models.size(), 1u);
  EXPECT_EQ(p->background_models[0].ToString(), "*haiku*") << "the default";
}

TEST(RouteRulesTest, CompileRejectsUnknownToolsAndStrategies) {
  state::StateRegistry states;
  v1::RoutingSnapshot tool = FourProviders();
  AddRule(&tool, "t", {"big"})->mutable_match()->add_tools("web_serch");
  auto t = CompileRoutingTable(tool, states);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("unknown tool \"web_serch\""), std::string::npos)
      << t.status();

  v1::RoutingSnapshot strategy = FourProviders();
  auto* r = AddRule(&strategy, "s", {"big"});
  r->mutable_match()->set_thinking(true);
  r->set_strategy("fastest");
  t = CompileRoutingTable(strategy, states);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("unknown strategy \"fastest\""), std::string::npos)
      << t.status();
}

}  // namespace
}  // namespace ccrelay::routing
