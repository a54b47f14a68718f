// routing.rules and routing.background_models: what a good config puts in the snapshot, what
// `config show` writes back, and each error at its file:line:col and key.
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controlplane/config/config_loader.h"
#include "controlplane/management/config_yaml.h"

namespace ccrelay::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

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
  std::string all;
  for (const ConfigError& e : r.errors) {
    all += e.ToString() + "\n";
  }
  EXPECT_TRUE(r.ok()) << all;
  return r.ok() ? *r.snapshot : ccrelay::v1::RoutingSnapshot();
}

constexpr std::string_view kProviders = R"(providers:
  - {name: anthropic, type: anthropic}
  - {name: zai, type: zai, keys: [{key: k1}]}
  - {name: ollama, type: ollama}
)";

TEST(RoutingRulesConfigTest, RulesInOrderWithEveryCondition) {
  const auto s = LoadOk(std::string(kProviders) + R"(routing:
  background_models: ["*haiku*", glm-4.5-air]
  rules:
    - name: background
      match: {background: true}
      providers: [zai, ollama]
      strategy: ordered
    - name: cheap-subagent
      match:
        model: route-cheap
      providers: [ollama]
      model: claude-haiku-4-5
      fallback: false
    - name: research
      match:
        model: ["claude-*", "route-*"]
        thinking: true
        long_context: 100000
        tools: [web_search, web_fetch]
        images: false
        header: {X-Route: "deep*"}
      providers: [anthropic]
      strategy: round-robin
)");
  const auto& r = s.routing();
  EXPECT_THAT(r.background_models(), ElementsAre("*haiku*", "glm-4.5-air"));
  ASSERT_EQ(r.rules_size(), 3);
  EXPECT_EQ(r.rules(0).name(), "background");
  EXPECT_TRUE(r.rules(0).match().has_background());
  EXPECT_TRUE(r.rules(0).match().background());
  EXPECT_THAT(r.rules(0).providers(), ElementsAre("zai", "ollama"));
  EXPECT_EQ(r.rules(0).strategy(), "ordered");
  EXPECT_FALSE(r.rules(0).has_fallback());
  EXPECT_THAT(r.rules(1).match().models(), ElementsAre("route-cheap"));
  EXPECT_EQ(r.rules(1).model(), "claude-haiku-4-5");
  EXPECT_TRUE(r.rules(1).has_fallback());
  EXPECT_FALSE(r.rules(1).fallback());
  const auto& m = r.rules(2).match();
  EXPECT_THAT(m.models(), ElementsAre("claude-*", "route-*"));
  EXPECT_TRUE(m.thinking());
  EXPECT_EQ(m.long_context(), 100000u);
  EXPECT_THAT(m.tools(), ElementsAre("web_search", "web_fetch"));
  EXPECT_TRUE(m.has_images());
  EXPECT_FALSE(m.images());
  ASSERT_EQ(m.headers_size(), 1);
  EXPECT_EQ(m.headers(0).name(), "x-route");
  EXPECT_EQ(m.headers(0).value(), "deep*");
  EXPECT_EQ(r.rules(2).strategy(), "round-robin");

  // `config show` writes them back, and that loads to the same routing.
  const std::string yaml = RedactedConfigYaml(s, s);
  EXPECT_THAT(yaml, HasSubstr("name: cheap-subagent"));
  const auto again = LoadOk(yaml);
  EXPECT_EQ(again.routing().rules_size(), 3) << yaml;
  EXPECT_THAT(again.routing().background_models(), ElementsAre("*haiku*", "glm-4.5-air"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(again.routing().rules(i).match().SerializeAsString(),
              r.rules(i).match().SerializeAsString())
        << yaml;
    EXPECT_EQ(again.routing().rules(i).name(), r.rules(i).name());
    EXPECT_EQ(again.routing().rules(i).providers().size(), r.rules(i).providers().size());
    EXPECT_EQ(again.routing().rules(i).model(), r.rules(i).model());
    EXPECT_EQ(again.routing().rules(i).strategy(), r.rules(i).strategy());
    EXPECT_EQ(again.routing().rules(i).fallback(), i != 1);
  }
}

TEST(RoutingRulesConfigTest, DefaultBackgroundModelsAndNoRules) {
  const auto s = LoadOk(kProviders);
  EXPECT_THAT(s.routing().background_models(), ElementsAre("*haiku*"));
  EXPECT_EQ(s.routing().rules_size(), 0);
  const auto single = LoadOk(std::string(kProviders) + "routing:\n  background_models: \"*mini*\"\n");
  EXPECT_THAT(single.routing().background_models(), ElementsAre("*mini*"));
}

TEST(RoutingRulesConfigTest, UsersMatchNamesRelayKeyUsers) {
  const auto s = LoadOk(std::string(kProviders) + R"(routing:
  rules:
    - name: team-a
      match: {users: [alice, bob.smith@example.com]}
      providers: [zai]
)");
  ASSERT_EQ(s.routing().rules_size(), 1);
  EXPECT_THAT(s.routing().rules(0).match().users(), ElementsAre("alice", "bob.smith@example.com"));
  EXPECT_THAT(ErrorsOf(std::string(kProviders) + R"(routing:
  rules:
    - name: team-a
      match: {users: ["al ice"]}
      providers: [zai]
)"),
              ElementsAre(HasSubstr("user name \"al ice\": expected 1 to 64 of")));
}

TEST(RoutingRulesConfigTest, ErrorsNamePositionAndKey) {
  EXPECT_THAT(
      ErrorsOf(std::string(kProviders) + R"(routing:
  background_models: []
  rules:
    - name: bg
      match: {background: true}
      providers: [zia]
    - name: bg
      match: {}
      providers: [zai, zai]
    - match: {tools: [web_serch], client_key: team-a}
      providers: []
    - name: default
      match: {thinking: yes, long_context: 0, modle: x}
      providers: [anthropic]
      strategy: cheapest
    - name: "bad name"
      match: {header: {"bad header": x}, model: ""}
)"),
      ElementsAre(
          "c.yaml:6:22: routing.background_models: must hold at least one glob (\"*\" matches "
          "every name)",
          "c.yaml:10:19: routing.rules[0].providers[0]: no provider named \"zia\" (did you mean "
          "\"zai\"?)",
          "c.yaml:11:13: routing.rules[1].name: duplicate rule name \"bg\" (already at "
          "routing.rules[0])",
          "c.yaml:12:14: routing.rules[1].match: a rule needs at least one match condition "
          "(model, background, thinking, long_context, tools, images, header, users)",
          "c.yaml:13:24: routing.rules[1].providers[1]: duplicate provider \"zai\" (already at "
          "routing.rules[1].providers[0])",
          "c.yaml:14:7: routing.rules[2].name: required: the rule's name (logs, metrics, route "
          "explain)",
          "c.yaml:14:23: routing.rules[2].match.tools[0]: unknown server tool \"web_serch\" (did "
          "you mean \"web_search\"?); expected web_search, web_fetch, code_execution, computer, "
          "bash, text_editor or memory",
          "c.yaml:14:47: routing.rules[2].match.client_key: not supported: match relay keys by "
          "their user with `users`",
          "c.yaml:15:18: routing.rules[2].providers: must name at least one provider",
          "c.yaml:16:13: routing.rules[3].name: \"default\" is reserved (the metrics' rule label "
          "of requests no rule matched)",
          "c.yaml:17:25: routing.rules[3].match.thinking: expected true or false, got \"yes\"",
          "c.yaml:17:44: routing.rules[3].match.long_context: must be at least 1 (estimated "
          "input tokens above it match)",
          "c.yaml:17:47: routing.rules[3].match.modle: unknown key \"modle\" (did you mean "
          "\"model\"?)",
          // The strategy list is routing.strategy's (it grows with the strategies).
          HasSubstr("c.yaml:19:17: routing.rules[3].strategy: unknown routing strategy "
                    "\"cheapest\""),
          "c.yaml:20:7: routing.rules[4].providers: required: the providers this rule sends to, "
          "in order",
          "c.yaml:20:13: routing.rules[4].name: invalid rule name \"bad name\"; expected "
          "[A-Za-z0-9._-]{1,64}",
          "c.yaml:21:24: routing.rules[4].match.header[\"bad header\"]: not a valid HTTP header "
          "name",
          "c.yaml:21:49: routing.rules[4].match.model: must not be empty (\"*\" matches "
          "everything)"));
}

}  // namespace
}  // namespace ccrelay::controlplane
