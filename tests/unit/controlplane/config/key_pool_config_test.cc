// Config keys of the key pools: routing.session_affinity(_ttl_ms) and the health section
// (circuit breakers, cooldown): defaults, values, and errors with file:line:col and did-you-mean.
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

constexpr std::string_view kProvider = "providers: [{name: a, type: anthropic}]\n";

std::vector<std::string> ErrorsOf(const std::string& yaml) {
  LoadResult r = LoadConfigString(yaml, "c.yaml", NoEnv());
  EXPECT_FALSE(r.ok()) << "expected errors";
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) {
    out.push_back(e.ToString());
  }
  return out;
}

TEST(KeyPoolConfigTest, DefaultsAreFilledIn) {
  LoadResult r = LoadConfigString(std::string(kProvider), "c.yaml", NoEnv());
  ASSERT_TRUE(r.ok());
  const auto& s = *r.snapshot;
  EXPECT_TRUE(s.routing().has_session_affinity());
  EXPECT_TRUE(s.routing().session_affinity());
  EXPECT_EQ(s.routing().session_affinity_ttl_ms(), 3600000u);
  const auto& cb = s.health().circuit_breaker();
  EXPECT_EQ(cb.failure_threshold(), 5u);
  EXPECT_DOUBLE_EQ(cb.failure_ratio(), 0.5);
  EXPECT_EQ(cb.min_requests(), 10u);
  EXPECT_EQ(cb.window_ms(), 30000u);
  EXPECT_EQ(cb.open_ms(), 30000u);
  EXPECT_EQ(cb.half_open_probes(), 1u);
  EXPECT_EQ(s.health().cooldown_ms(), 10000u);

  const v1::RoutingSnapshot builtin = BuiltinDefaultSnapshot();
  EXPECT_TRUE(builtin.routing().session_affinity());
  EXPECT_EQ(builtin.health().circuit_breaker().failure_threshold(), 5u);
}

TEST(KeyPoolConfigTest, ReadsEveryKey) {
  LoadResult r = LoadConfigString(std::string(kProvider) +
                                      "routing:\n"
                                      "  session_affinity: false\n"
                                      "  session_affinity_ttl_ms: 60000\n"
                                      "health:\n"
                                      "  circuit_breaker:\n"
                                      "    failure_threshold: 3\n"
                                      "    failure_ratio: 0.25\n"
                                      "    min_requests: 4\n"
                                      "    window_ms: 1000\n"
                                      "    open_ms: 500\n"
                                      "    half_open_probes: 2\n"
                                      "  cooldown_ms: 2500\n",
                                  "c.yaml", NoEnv());
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].ToString());
  const auto& s = *r.snapshot;
  EXPECT_FALSE(s.routing().session_affinity());
  EXPECT_EQ(s.routing().session_affinity_ttl_ms(), 60000u);
  const auto& cb = s.health().circuit_breaker();
  EXPECT_EQ(cb.failure_threshold(), 3u);
  EXPECT_DOUBLE_EQ(cb.failure_ratio(), 0.25);
  EXPECT_EQ(cb.min_requests(), 4u);
  EXPECT_EQ(cb.window_ms(), 1000u);
  EXPECT_EQ(cb.open_ms(), 500u);
  EXPECT_EQ(cb.half_open_probes(), 2u);
  EXPECT_EQ(s.health().cooldown_ms(), 2500u);
}

TEST(KeyPoolConfigTest, TyposGetDidYouMean) {
  EXPECT_THAT(ErrorsOf(std::string(kProvider) + "routing:\n  session_afinity: true\n"),
              ElementsAre("c.yaml:3:3: routing.session_afinity: unknown key \"session_afinity\" "
                          "(did you mean \"session_affinity\"?)"));
  EXPECT_THAT(ErrorsOf(std::string(kProvider) + "health:\n  circuit_breaker:\n    open_sm: 5\n"),
              ElementsAre("c.yaml:4:5: health.circuit_breaker.open_sm: unknown key \"open_sm\" "
                          "(did you mean \"open_ms\"?)"));
  EXPECT_THAT(ErrorsOf(std::string(kProvider) + "helth: {}\n"),
              ElementsAre("c.yaml:2:1: helth: unknown key \"helth\" (did you mean \"health\"?)"));
}

TEST(KeyPoolConfigTest, BadValuesAreReportedWithTheirPosition) {
  EXPECT_THAT(
      ErrorsOf(std::string(kProvider) + "routing:\n"
                                        "  session_affinity: maybe\n"
                                        "  session_affinity_ttl_ms: 0\n"
                                        "health:\n"
                                        "  circuit_breaker:\n"
                                        "    failure_threshold: 0\n"
                                        "    failure_ratio: 1.5\n"
                                        "    half_open_probes: -1\n"
                                        "  cooldown_ms: soon\n"),
      ElementsAre(
          "c.yaml:3:21: routing.session_affinity: expected true or false, got \"maybe\"",
          "c.yaml:4:28: routing.session_affinity_ttl_ms: must be at least 1 (turn affinity off "
          "with session_affinity: false)",
          "c.yaml:7:24: health.circuit_breaker.failure_threshold: must be at least 1, got 0",
          "c.yaml:8:20: health.circuit_breaker.failure_ratio: must be greater than 0 and at most "
          "1 (0.5 = 50%), got 1.5",
          "c.yaml:9:23: health.circuit_breaker.half_open_probes: expected a non-negative "
          "integer, got \"-1\"",
          "c.yaml:10:16: health.cooldown_ms: expected a non-negative integer, got \"soon\""));
  EXPECT_THAT(ErrorsOf(std::string(kProvider) + "health:\n  circuit_breaker:\n"
                                                "    failure_ratio: half\n"),
              ElementsAre("c.yaml:4:20: health.circuit_breaker.failure_ratio: expected a "
                          "number, got \"half\""));
}

TEST(KeyPoolConfigTest, HealthChecks) {
  LoadResult d = LoadConfigString(std::string(kProvider), "c.yaml", NoEnv());
  ASSERT_TRUE(d.ok());
  const auto& dc = d.snapshot->health().checks();
  EXPECT_EQ(dc.interval_ms(), 60000u);
  EXPECT_EQ(dc.timeout_ms(), 5000u);
  EXPECT_EQ(dc.unhealthy_threshold(), 2u);
  EXPECT_EQ(dc.healthy_threshold(), 1u);

  LoadResult r = LoadConfigString(std::string(kProvider) +
                                      "health:\n"
                                      "  checks:\n"
                                      "    interval_ms: 15000\n"
                                      "    timeout_ms: 2000\n"
                                      "    unhealthy_threshold: 3\n"
                                      "    healthy_threshold: 2\n",
                                  "c.yaml", NoEnv());
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0].ToString());
  const auto& c = r.snapshot->health().checks();
  EXPECT_EQ(c.interval_ms(), 15000u);
  EXPECT_EQ(c.timeout_ms(), 2000u);
  EXPECT_EQ(c.unhealthy_threshold(), 3u);
  EXPECT_EQ(c.healthy_threshold(), 2u);

  LoadResult off =
      LoadConfigString(std::string(kProvider) + "health:\n  checks:\n    interval_ms: 0\n",
                       "c.yaml", NoEnv());
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off.snapshot->health().checks().interval_ms(), 0u);

  EXPECT_THAT(ErrorsOf(std::string(kProvider) + "health:\n"
                                                "  checks:\n"
                                                "    timeout_ms: 0\n"
                                                "    unhealthy_treshold: 2\n"),
              ElementsAre("c.yaml:4:17: health.checks.timeout_ms: must be at least 1, got 0",
                          "c.yaml:5:5: health.checks.unhealthy_treshold: unknown key "
                          "\"unhealthy_treshold\" (did you mean \"unhealthy_threshold\"?)"));
}

}  // namespace
}  // namespace ccrelay::controlplane
