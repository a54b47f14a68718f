// Config keys of the metrics: `metrics.listen` and `providers[].pricing`.
#include <map>
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

std::vector<std::string> ErrorsOf(std::string_view yaml) {
  LoadResult r = LoadConfigString(yaml, "c.yaml", NoEnv());
  EXPECT_FALSE(r.ok()) << "expected errors";
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) {
    out.push_back(e.ToString());
  }
  return out;
}

ccrelay::v1::RoutingSnapshot LoadOk(std::string_view yaml) {
  LoadResult r = LoadConfigString(yaml, "c.yaml", NoEnv());
  std::string errors;
  for (const ConfigError& e : r.errors) {
    errors += e.ToString() + "\n";
  }
  EXPECT_TRUE(r.ok()) << errors;
  return r.snapshot.value_or(ccrelay::v1::RoutingSnapshot());
}

TEST(MetricsConfigTest, MetricsListenIsRead) {
  const auto s = LoadOk(R"(
metrics:
  listen: "127.0.0.1:9464"
providers: [{name: a, type: anthropic}]
)");
  EXPECT_EQ(s.metrics().listen(), "127.0.0.1:9464");
}

TEST(MetricsConfigTest, NoMetricsSectionMeansNoSeparateListener) {
  const auto s = LoadOk("providers: [{name: a, type: anthropic}]\n");
  EXPECT_FALSE(s.has_metrics());
  EXPECT_EQ(s.metrics().listen(), "");
  EXPECT_FALSE(
      LoadOk("metrics: {listen: \"\"}\nproviders: [{name: a, type: anthropic}]\n").has_metrics());
}

TEST(MetricsConfigTest, BadMetricsKeysAreReported) {
  EXPECT_THAT(
      ErrorsOf("metrics:\n  listn: \"127.0.0.1:1\"\nproviders: [{name: a, type: anthropic}]\n"),
      ElementsAre("c.yaml:2:3: metrics.listn: unknown key \"listn\" (did you mean "
                  "\"listen\"?)"));
  const auto errors =
      ErrorsOf("metrics:\n  listen: \"nowhere\"\nproviders: [{name: a, type: anthropic}]\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], ::testing::StartsWith("c.yaml:2:11: metrics.listen: "));
}

TEST(MetricsConfigTest, PricingIsReadInFileOrder) {
  const auto s = LoadOk(R"(
providers:
  - name: z
    type: zai
    keys: [{key: zk}]
    pricing:
      "glm-4.7": {input_per_mtok: 0.6, output_per_mtok: 2.2, cache_read_per_mtok: 0.11}
      "glm-*": {input_per_mtok: 1}
      "other": {}
)");
  ASSERT_EQ(s.providers_size(), 1);
  const auto& pricing = s.providers(0).pricing();
  ASSERT_EQ(pricing.size(), 3);
  EXPECT_EQ(pricing[0].model(), "glm-4.7");
  EXPECT_EQ(pricing[0].input_per_mtok(), 0.6);
  EXPECT_EQ(pricing[0].output_per_mtok(), 2.2);
  EXPECT_EQ(pricing[0].cache_read_per_mtok(), 0.11);
  EXPECT_EQ(pricing[0].cache_write_per_mtok(), 0);
  EXPECT_EQ(pricing[1].model(), "glm-*");
  EXPECT_EQ(pricing[1].input_per_mtok(), 1);
  EXPECT_EQ(pricing[2].model(), "other");
  EXPECT_EQ(pricing[2].output_per_mtok(), 0);
}

TEST(MetricsConfigTest, BadPricesAreReportedWithTheirPosition) {
  const auto errors = ErrorsOf(R"(providers:
  - name: a
    type: anthropic
    pricing:
      "claude-*-x": {input_per_mtok: 1}
      "m1": {input_per_mtok: -1}
      "m2": {output_per_mtok: lots}
      "m3": {input_per_mtk: 1}
      "m4": {cache_read_per_mtok: 2000000}
      "m5": 3
)");
  EXPECT_THAT(
      errors,
      ElementsAre(
          "c.yaml:5:7: providers[0].pricing[\"claude-*-x\"]: '*' is only allowed at the end of "
          "a model name (a prefix match)",
          "c.yaml:6:30: providers[0].pricing[\"m1\"].input_per_mtok: expected a non-negative "
          "number of US dollars per million tokens (at most 1000000), got \"-1\"",
          "c.yaml:7:31: providers[0].pricing[\"m2\"].output_per_mtok: expected a non-negative "
          "number of US dollars per million tokens (at most 1000000), got \"lots\"",
          "c.yaml:8:14: providers[0].pricing[\"m3\"].input_per_mtk: unknown key "
          "\"input_per_mtk\" (did you mean \"input_per_mtok\"?)",
          "c.yaml:9:35: providers[0].pricing[\"m4\"].cache_read_per_mtok: expected a "
          "non-negative number of US dollars per million tokens (at most 1000000), got "
          "\"2000000\"",
          "c.yaml:10:13: providers[0].pricing[\"m5\"]: expected a mapping, got \"3\""));
}

}  // namespace
}  // namespace ccrelay::controlplane
