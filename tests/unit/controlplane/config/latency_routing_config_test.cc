// Config keys of the latency-based strategy: `routing.latency_based`.
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

LoadResult Load(std::string_view yaml) { return LoadConfigString(yaml, "c.yaml", NoEnv()); }

std::vector<std::string> ErrorsOf(std::string_view yaml) {
  LoadResult r = Load(yaml);
  EXPECT_FALSE(r.ok()) << "expected errors";
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) {
    out.push_back(e.ToString());
  }
  return out;
}

constexpr std::string_view kProvider = "providers: [{name: a, type: anthropic}]\n";

TEST(LatencyRoutingConfigTest, StrategyAndOptionsAreRead) {
  LoadResult r = Load(std::string(kProvider) +
                      "routing:\n"
                      "  strategy: latency-based\n"
                      "  latency_based:\n"
                      "    explore_share: 0\n"
                      "    outlier_factor: 4.5\n"
                      "    outlier_margin_ms: 500\n"
                      "    tolerance: 0.2\n"
                      "    expected_output_tokens: 1000\n");
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].ToString());
  const auto& routing = r.snapshot->routing();
  EXPECT_EQ(routing.strategy(), "latency-based");
  const auto& l = routing.latency_based();
  EXPECT_TRUE(l.has_explore_share());
  EXPECT_EQ(l.explore_share(), 0);
  EXPECT_EQ(l.outlier_factor(), 4.5);
  EXPECT_EQ(l.outlier_margin_ms(), 500u);
  EXPECT_EQ(l.tolerance(), 0.2);
  EXPECT_EQ(l.expected_output_tokens(), 1000u);
}

TEST(LatencyRoutingConfigTest, AbsentMeansDefaults) {
  LoadResult r = Load(std::string(kProvider) + "routing: {strategy: latency-based}\n");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.snapshot->routing().has_latency_based());
}

TEST(LatencyRoutingConfigTest, ErrorsNameTheKey) {
  EXPECT_THAT(
      ErrorsOf(std::string(kProvider) +
               "routing:\n"
               "  latency_based:\n"
               "    explore_share: 1.5\n"
               "    outlier_factor: 1\n"
               "    outlier_margin_ms: 0\n"
               "    tolerance: -1\n"
               "    expected_output_tokens: 0\n"
               "    tolerence: 0.1\n"),
      ElementsAre(
          "c.yaml:4:20: routing.latency_based.explore_share: must be between 0 and 1 (0 turns "
          "exploring off), got 1.5",
          "c.yaml:5:21: routing.latency_based.outlier_factor: must be above 1 (times the best "
          "estimate), got 1",
          "c.yaml:6:24: routing.latency_based.outlier_margin_ms: must be at least 1",
          "c.yaml:7:16: routing.latency_based.tolerance: must be between 0 and 10 (a share of "
          "the best estimate), got -1",
          "c.yaml:8:29: routing.latency_based.expected_output_tokens: must be at least 1",
          "c.yaml:9:5: routing.latency_based.tolerence: unknown key \"tolerence\" (did you mean "
          "\"tolerance\"?)"));
}

}  // namespace
}  // namespace ccrelay::controlplane
