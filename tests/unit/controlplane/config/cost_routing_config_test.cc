// Config keys of the cost-based strategy: routing.cost_based and providers[].context_window,
// tier, capabilities: values, defaults, and errors with file:line:col and the key.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controlplane/config/config_loader.h"

namespace ccrelay::controlplane {
namespace {

using ::testing::ElementsAre;

EnvLookup NoEnv() {
  return [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
}

std::vector<std::string> ErrorsOf(const std::string& yaml) {
  LoadResult r = LoadConfigString(yaml, "c.yaml", NoEnv());
  EXPECT_FALSE(r.ok()) << "expected errors";
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) {
    out.push_back(e.ToString());
  }
  return out;
}

TEST(CostRoutingConfigTest, DefaultsAreEmpty) {
  LoadResult r = LoadConfigString("providers: [{name: a, type: anthropic}]\n", "c.yaml", NoEnv());
  ASSERT_TRUE(r.ok());
  const auto& s = *r.snapshot;
  EXPECT_EQ(s.routing().cost_based().threshold_tokens(), 0u);
  EXPECT_EQ(s.routing().cost_based().floor_default(), "");
  EXPECT_EQ(s.providers(0).context_window(), 0u);
  EXPECT_EQ(s.providers(0).tier(), "");
  EXPECT_FALSE(s.providers(0).capabilities_set());
}

TEST(CostRoutingConfigTest, ReadsEveryKey) {
  LoadResult r = LoadConfigString(R"(providers:
  - name: a
    type: anthropic
  - name: local
    type: ollama
    context_window: 32768
    tier: small
    capabilities: [thinking, images]
  - name: none
    type: ollama
    capabilities: []
routing:
  strategy: cost-based
  cost_based:
    threshold_tokens: 60000
    quality_floor: {default: small, thinking: medium, tools: large}
)",
                                  "c.yaml", NoEnv());
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].ToString());
  const auto& s = *r.snapshot;
  EXPECT_EQ(s.routing().strategy(), "cost-based");
  EXPECT_EQ(s.routing().cost_based().threshold_tokens(), 60000u);
  EXPECT_EQ(s.routing().cost_based().floor_default(), "small");
  EXPECT_EQ(s.routing().cost_based().floor_thinking(), "medium");
  EXPECT_EQ(s.routing().cost_based().floor_tools(), "large");
  const auto& local = s.providers(1);
  EXPECT_EQ(local.context_window(), 32768u);
  EXPECT_EQ(local.tier(), "small");
  EXPECT_TRUE(local.capabilities_set());
  EXPECT_THAT(local.capabilities(), ElementsAre("thinking", "images"));
  EXPECT_TRUE(s.providers(2).capabilities_set());
  EXPECT_EQ(s.providers(2).capabilities_size(), 0);
}

TEST(CostRoutingConfigTest, ErrorsNameFileLineAndKey) {
  EXPECT_THAT(
      ErrorsOf(R"(providers:
  - name: a
    type: ollama
    context_window: 0
    tier: huge
    capabilities: [thinking, web-search, thinking]
routing:
  cost_based:
    threshold_tokens: 0
    quality_floor: {thinking: medum, always: small}
    treshold: 5
)"),
      ElementsAre(
          "c.yaml:4:21: providers[0].context_window: must be between 1 and 100000000 tokens, "
          "got 0 (leave it out for the model's built-in window)",
          "c.yaml:5:11: providers[0].tier: expected one of small, medium, large, got \"huge\"",
          "c.yaml:6:30: providers[0].capabilities[1]: expected one of web_search, web_fetch, "
          "code_execution, computer, bash, text_editor, memory, thinking, images, "
          "other_server_tools, got \"web-search\" (did you mean \"web_search\"?)",
          "c.yaml:6:42: providers[0].capabilities[2]: duplicate capability \"thinking\" "
          "(already at providers[0].capabilities[0])",
          "c.yaml:9:23: routing.cost_based.threshold_tokens: must be between 1 and 100000000 "
          "tokens, got 0 (leave it out for no threshold)",
          "c.yaml:10:31: routing.cost_based.quality_floor.thinking: expected one of small, "
          "medium, large, got \"medum\" (did you mean \"medium\"?)",
          "c.yaml:10:38: routing.cost_based.quality_floor.always: unknown key \"always\"",
          "c.yaml:11:5: routing.cost_based.treshold: unknown key \"treshold\""));
}

TEST(CostRoutingConfigTest, CostBasedIsAStrategy) {
  LoadResult r = LoadConfigString(
      "providers: [{name: a, type: anthropic}]\nrouting: {strategy: cost-based}\n", "c.yaml",
      NoEnv());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.snapshot->routing().strategy(), "cost-based");
}

}  // namespace
}  // namespace ccrelay::controlplane
