#include "dataplane/routing/model_catalog.h"

#include "gtest/gtest.h"
#include "dataplane/routing/pricing.h"

namespace ccrelay::routing {
namespace {

TEST(ModelCatalogTest, ClaudeWindowsAndTiers) {
  struct Case {
    const char* model;
    int64_t window;
    int64_t window_beta;
    Tier tier;
  };
  for (const Case& c : {
           Case{"claude-haiku-4-5-20251001", 200000, 0, Tier::kSmall},
           Case{"claude-3-5-haiku-20241022", 200000, 0, Tier::kSmall},
           Case{"claude-sonnet-4-5", 200000, 1000000, Tier::kMedium},
           Case{"claude-sonnet-4-20250514", 200000, 1000000, Tier::kMedium},
           Case{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", 200000, 1000000, Tier::kMedium},
           Case{"claude-sonnet-4-5@20250929", 200000, 1000000, Tier::kMedium},
           Case{"claude-sonnet-4-6", 1000000, 0, Tier::kMedium},
           Case{"claude-opus-4-1-20250805", 200000, 0, Tier::kLarge},
           Case{"claude-opus-4-20250514", 200000, 0, Tier::kLarge},
           Case{"claude-opus-4-6", 1000000, 0, Tier::kLarge},
           Case{"claude-opus-4-8", 1000000, 0, Tier::kLarge},
           Case{"claude-opus-5-5", 1000000, 0, Tier::kLarge},
           Case{"claude-fable-5-1", 1000000, 0, Tier::kLarge},
           Case{"claude-3-7-sonnet-20250219", 200000, 0, Tier::kMedium},
       }) {
    const ModelFacts f = BuiltinModelFacts(c.model);
    EXPECT_EQ(f.context_window, c.window) << c.model;
    EXPECT_EQ(f.context_window_beta, c.window_beta) << c.model;
    EXPECT_EQ(f.tier, c.tier) << c.model;
  }
  EXPECT_EQ(BuiltinModelFacts("claude-3-5-haiku-20241022").lacks, kCapThinking);
  EXPECT_EQ(BuiltinModelFacts("claude-3-7-sonnet-20250219").lacks, 0u);
  EXPECT_EQ(BuiltinModelFacts("claude-opus-4-8").lacks, 0u);
}

TEST(ModelCatalogTest, GlmWindowsTiersAndImages) {
  EXPECT_EQ(BuiltinModelFacts("glm-4.5-air").context_window, 128000);
  EXPECT_EQ(BuiltinModelFacts("glm-4.5-air").tier, Tier::kSmall);
  EXPECT_EQ(BuiltinModelFacts("glm-4.7").context_window, 200000);
  EXPECT_EQ(BuiltinModelFacts("GLM-4.7").tier, Tier::kMedium);
  EXPECT_EQ(BuiltinModelFacts("glm-4.7").lacks, kCapImages);
  EXPECT_EQ(BuiltinModelFacts("glm-4.6v").lacks, 0u);
  EXPECT_EQ(BuiltinModelFacts("glm-5.3").context_window, 1000000);
  EXPECT_EQ(BuiltinModelFacts("glm-5.3").tier, Tier::kLarge);
  EXPECT_EQ(BuiltinModelFacts("glm-5.3-flash").tier, Tier::kSmall);
  EXPECT_EQ(BuiltinModelFacts("glm-5.1").context_window, 200000);
  // Unknown models: no limit, no tier, nothing known to be missing.
  const ModelFacts q = BuiltinModelFacts("qwen3-coder:30b");
  EXPECT_EQ(q.context_window, 0);
  EXPECT_EQ(q.tier, Tier::kUnknown);
  EXPECT_EQ(q.lacks, 0u);
}

TEST(ModelCatalogTest, Context1mBeta) {
  EXPECT_TRUE(HasContext1mBeta("context-1m-2025-08-07"));
  EXPECT_TRUE(HasContext1mBeta("claude-code-20250219,context-1m-2025-08-07"));
  EXPECT_TRUE(HasContext1mBeta("oauth-2025-04-20, context-1m-2025-08-07"));
  EXPECT_FALSE(HasContext1mBeta("x-context-1m-2025-08-07"));
  EXPECT_FALSE(HasContext1mBeta(""));
}

TEST(ModelCatalogTest, TypeCapabilities) {
  EXPECT_EQ(TypeCapabilities("anthropic"), kAllCapabilities);
  EXPECT_NE(TypeCapabilities("vertex") & kCapWebSearch, 0u);
  EXPECT_EQ(TypeCapabilities("vertex") & (kCapWebFetch | kCapCodeExecution), 0u);
  EXPECT_EQ(TypeCapabilities("bedrock") & kCapWebSearch, 0u);
  EXPECT_NE(TypeCapabilities("bedrock") & kCapThinking, 0u);
  EXPECT_EQ(TypeCapabilities("zai"), kCapThinking | kCapImages);
  EXPECT_EQ(TypeCapabilities("ollama"), kCapThinking | kCapImages);
}

TEST(ModelCatalogTest, ResolveFitPrefersConfig) {
  ProviderFitConfig none;
  ModelFit f = ResolveFit(none, "anthropic", "claude-sonnet-4-5", "");
  EXPECT_EQ(f.context_window, 200000);
  f = ResolveFit(none, "anthropic", "claude-sonnet-4-5", "context-1m-2025-08-07");
  EXPECT_EQ(f.context_window, 1000000);
  f = ResolveFit(none, "zai", "glm-4.7", "");
  EXPECT_EQ(f.capabilities, kCapThinking);  // the type's, less what the model lacks

  ProviderFitConfig cfg;
  cfg.context_window = 32768;
  cfg.tier = Tier::kMedium;
  cfg.capabilities_set = true;
  cfg.capabilities = kCapImages;
  f = ResolveFit(cfg, "zai", "glm-4.7", "");
  EXPECT_EQ(f.context_window, 32768);
  EXPECT_EQ(f.tier, Tier::kMedium);
  EXPECT_EQ(f.capabilities, kCapImages);
}

TEST(ModelCatalogTest, NamesRoundTrip) {
  Tier t = Tier::kUnknown;
  EXPECT_TRUE(ParseTier("medium", &t));
  EXPECT_EQ(t, Tier::kMedium);
  EXPECT_FALSE(ParseTier("huge", &t));
  EXPECT_EQ(CapabilityBit("web_search"), kCapWebSearch);
  EXPECT_EQ(CapabilityBit("websearch"), 0u);
  EXPECT_EQ(CapabilityList(kCapThinking | kCapWebSearch), "web_search, thinking");
}

TEST(PricingTest, BuiltinGlmPrices) {
  const ModelPrice* p = BuiltinGlmPrice("glm-4.7");
  ASSERT_NE(p, nullptr);
  EXPECT_DOUBLE_EQ(p->input_per_mtok, 0.60);
  EXPECT_DOUBLE_EQ(p->output_per_mtok, 2.20);
  EXPECT_DOUBLE_EQ(p->cache_read_per_mtok, 0.11);
  p = BuiltinGlmPrice("GLM-4.5-Air");
  ASSERT_NE(p, nullptr);
  EXPECT_DOUBLE_EQ(p->input_per_mtok, 0.20);
  p = BuiltinGlmPrice("glm-4.5-airx");
  ASSERT_NE(p, nullptr);
  EXPECT_DOUBLE_EQ(p->input_per_mtok, 1.10);
  p = BuiltinGlmPrice("glm-4.7-flash");
  ASSERT_NE(p, nullptr);
  EXPECT_DOUBLE_EQ(p->output_per_mtok, 0);
  p = BuiltinGlmPrice("glm-5.3");
  ASSERT_NE(p, nullptr);
  EXPECT_DOUBLE_EQ(p->output_per_mtok, 4.40);
  EXPECT_EQ(BuiltinGlmPrice("claude-sonnet-4-5"), nullptr);
  EXPECT_TRUE(UsesBuiltinGlmPrices("zai"));
  EXPECT_FALSE(UsesBuiltinGlmPrices("ollama"));
  // A zai provider's table has them; an ollama provider's has not.
  EXPECT_NE(PriceTable({}, false, true).Find("glm-4.6"), nullptr);
  EXPECT_EQ(PriceTable({}, false, false).Find("glm-4.6"), nullptr);
}

}  // namespace
}  // namespace ccrelay::routing
