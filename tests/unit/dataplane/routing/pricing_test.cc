// Price tables for the cost metric: built-in Claude list prices by family, config rules first,
// zero for what is not priced, and the snapshot compile.
#include "dataplane/routing/pricing.h"

#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

#include "dataplane/routing/routing_table.h"
#include "dataplane/state/state_registry.h"

namespace ccrelay::routing {
namespace {

double InputPrice(std::string_view model) {
  const ModelPrice* p = BuiltinClaudePrice(model);
  return p == nullptr ? -1 : p->input_per_mtok;
}

TEST(PricingTest, BuiltinClaudePricesByFamily) {
  EXPECT_EQ(InputPrice("claude-opus-4-5-20251101"), 5);
  EXPECT_EQ(InputPrice("claude-opus-4-5"), 5);
  EXPECT_EQ(InputPrice("claude-opus-4-1-20250805"), 15);
  EXPECT_EQ(InputPrice("claude-opus-4-20250514"), 15);
  EXPECT_EQ(InputPrice("claude-opus-4-0"), 15);
  EXPECT_EQ(InputPrice("claude-opus-4"), 15);
  EXPECT_EQ(InputPrice("claude-3-opus-20240229"), 15);
  EXPECT_EQ(InputPrice("claude-sonnet-4-5-20250929"), 3);
  EXPECT_EQ(InputPrice("claude-sonnet-4-20250514"), 3);
  EXPECT_EQ(InputPrice("claude-3-7-sonnet-latest"), 3);
  EXPECT_EQ(InputPrice("claude-haiku-4-5-20251001"), 1);
  EXPECT_EQ(InputPrice("claude-3-5-haiku-20241022"), 0.8);
  EXPECT_EQ(InputPrice("claude-3-haiku-20240307"), 0.25);
  EXPECT_EQ(InputPrice("claude-opus-5"), 5);
  EXPECT_EQ(InputPrice("claude-opus-5-5"), 4);
  EXPECT_EQ(InputPrice("claude-sonnet-5"), 2);
  EXPECT_EQ(InputPrice("claude-sonnet-5-5"), 2);
  EXPECT_EQ(InputPrice("claude-fable-5-1"), 10);
  EXPECT_EQ(InputPrice("claude-fable-5-2"), 8);
  // Cloud model ids: Bedrock prefixes and version suffixes, Vertex '@' versions.
  EXPECT_EQ(InputPrice("us.anthropic.claude-sonnet-4-5-20250929-v1:0"), 3);
  EXPECT_EQ(InputPrice("anthropic.claude-opus-4-1-20250805-v1:0"), 15);
  EXPECT_EQ(InputPrice("claude-opus-4@20250514"), 15);
  // Not Claude: no built-in price.
  EXPECT_EQ(InputPrice("glm-4.7"), -1);
  EXPECT_EQ(InputPrice("qwen3-coder"), -1);
  EXPECT_EQ(InputPrice("claude"), -1);
}

TEST(PricingTest, BuiltinPricesOfEveryKind) {
  const ModelPrice* p = BuiltinClaudePrice("claude-sonnet-4-5");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->input_per_mtok, 3);
  EXPECT_EQ(p->output_per_mtok, 15);
  EXPECT_EQ(p->cache_read_per_mtok, 0.3);
  EXPECT_EQ(p->cache_write_per_mtok, 3.75);
}

TEST(PricingTest, CostOfUsage) {
  const ModelPrice price{3, 15, 0.3, 3.75};
  EXPECT_DOUBLE_EQ(CostUsd(price, http::Usage{1000000, 0, 0, 0}), 3);
  EXPECT_DOUBLE_EQ(CostUsd(price, http::Usage{1000, 2000, 4000, 8000}),
                   (1000 * 3 + 2000 * 15 + 8000 * 0.3 + 4000 * 3.75) / 1e6);
  // Unknown counts (-1) cost nothing.
  EXPECT_EQ(CostUsd(price, http::Usage{}), 0);
  EXPECT_DOUBLE_EQ(CostUsd(price, http::Usage{-1, 1000000, -1, -1}), 15);
}

TEST(PricingTest, ConfigRulesComeFirstThenBuiltinThenZero) {
  PriceTable table({PriceRule{ModelPattern("claude-sonnet-4-5"), ModelPrice{1, 2, 0, 0}},
                    PriceRule{ModelPattern("glm-*"), ModelPrice{0.5, 1, 0, 0}}},
                   true);
  ASSERT_NE(table.Find("claude-sonnet-4-5"), nullptr);
  EXPECT_EQ(table.Find("claude-sonnet-4-5")->input_per_mtok, 1);           // config over built-in
  EXPECT_EQ(table.Find("claude-sonnet-4-5-20250929")->input_per_mtok, 3);  // exact rule only
  EXPECT_EQ(table.Find("glm-4.7")->input_per_mtok, 0.5);                   // prefix rule
  EXPECT_EQ(table.Find("mystery-model"), nullptr);
  EXPECT_EQ(table.Cost("mystery-model", http::Usage{1000000, 1000000, 0, 0}), 0);

  PriceTable no_builtin({}, false);
  EXPECT_EQ(no_builtin.Find("claude-sonnet-4-5"), nullptr);
}

TEST(PricingTest, BuiltinAppliesToClaudeServingTypes) {
  EXPECT_TRUE(UsesBuiltinClaudePrices("anthropic"));
  EXPECT_TRUE(UsesBuiltinClaudePrices("bedrock"));
  EXPECT_FALSE(UsesBuiltinClaudePrices("zai"));
  EXPECT_FALSE(UsesBuiltinClaudePrices("ollama"));
}

TEST(PricingTest, SnapshotPricingIsCompiledIntoTheRoutingTable) {
  v1::RoutingSnapshot s;
  s.set_version(1);
  auto add = [&s](const char* name, const char* type) {
    auto* p = s.add_providers();
    p->set_name(name);
    p->set_type(type);
    p->set_enabled(true);
    p->set_base_url("http://127.0.0.1:9");
    if (std::string_view(type) == "zai") {
      auto* k = p->add_keys();
      k->set_secret("zai-key");
      k->set_enabled(true);
      k->set_weight(1);
    }
    return p;
  };
  auto* a = add("a", "anthropic");
  auto* rule = a->add_pricing();
  rule->set_model("claude-test-*");
  rule->set_input_per_mtok(2);
  rule->set_output_per_mtok(10);
  rule->set_cache_read_per_mtok(0.2);
  rule->set_cache_write_per_mtok(2.5);
  add("z", "zai");
  add("o", "ollama");
  state::StateRegistry states;
  auto table = CompileRoutingTable(s, states);
  ASSERT_TRUE(table.ok()) << table.status();
  const auto& providers = (*table)->providers;
  ASSERT_EQ(providers.size(), 3u);
  const ModelPrice* test_price = providers[0].pricing.Find("claude-test-1");
  ASSERT_NE(test_price, nullptr);
  EXPECT_EQ(test_price->output_per_mtok, 10);
  EXPECT_EQ(test_price->cache_write_per_mtok, 2.5);
  ASSERT_NE(providers[0].pricing.Find("claude-haiku-4-5"), nullptr);  // built-in for anthropic
  EXPECT_EQ(providers[1].pricing.Find("claude-haiku-4-5"), nullptr);  // zai: not Claude prices
  EXPECT_EQ(providers[2].pricing.Find("claude-haiku-4-5"), nullptr);  // ollama: free
}

}  // namespace
}  // namespace ccrelay::routing
