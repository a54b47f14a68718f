// Config errors: positions (file:line:col), key paths, messages, collection of all errors,
// secrets never echoed, cross-field checks. Expected strings are written out in full so a
// position or wording change is caught.
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controlplane/config/config_loader.h"
#include "controlplane/management/config_yaml.h"
#include "dataplane/common/secret.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

EnvLookup FakeEnv(std::map<std::string, std::string, std::less<>> vars = {}) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

std::vector<std::string> ErrorsOf(std::string_view yaml, const EnvLookup& env = FakeEnv()) {
  LoadResult r = LoadConfigString(yaml, "c.yaml", env);
  EXPECT_EQ(r.ok(), r.snapshot.has_value());
  EXPECT_FALSE(r.ok()) << "expected errors";
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) {
    out.push_back(e.ToString());
  }
  return out;
}

std::string AllText(const std::vector<std::string>& errors) {
  std::string out;
  for (const std::string& e : errors) {
    out += e + "\n";
  }
  return out;
}

constexpr std::string_view kProvider = "providers: [{name: a, type: anthropic}]\n";

TEST(ConfigErrorsTest, ToStringFormats) {
  EXPECT_EQ((ConfigError{"f.yaml", 3, 7, "server.listen", "bad"}).ToString(),
            "f.yaml:3:7: server.listen: bad");
  EXPECT_EQ((ConfigError{"f.yaml", 2, 1, "", "invalid YAML: x"}).ToString(),
            "f.yaml:2:1: invalid YAML: x");
  EXPECT_EQ((ConfigError{"f.yaml", 0, 0, "", "config file not found"}).ToString(),
            "f.yaml: config file not found");
}

TEST(ConfigErrorsTest, FieldsOfAnError) {
  LoadResult r = LoadConfigString("server:\n  workers: lots\n" + std::string(kProvider),
                                  "my/config.yaml", FakeEnv());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_FALSE(r.snapshot.has_value());
  const ConfigError& e = r.errors[0];
  EXPECT_EQ(e.file, "my/config.yaml");
  EXPECT_EQ(e.line, 2);
  EXPECT_EQ(e.column, 12);
  EXPECT_EQ(e.key_path, "server.workers");
  EXPECT_EQ(e.message, "expected a non-negative integer, got \"lots\"");
}

TEST(ConfigErrorsTest, UnknownKeysWithSuggestionsAtEveryLevel) {
  EXPECT_THAT(
      ErrorsOf(R"(servr:
  listen: x
logging: {levle: info}
providers:
  - name: a
    typ: anthropic
    Models: []
    keys:
      - key: k
        rpm_limt: 5
        colour: red
routing:
  failover: {primray: a}
  MAX_ATTEMPTS: 2
)"),
      ElementsAre("c.yaml:1:1: servr: unknown key \"servr\" (did you mean \"server\"?)",
                  "c.yaml:3:11: logging.levle: unknown key \"levle\" (did you mean \"level\"?)",
                  "c.yaml:5:5: providers[0].type: required (anthropic, zai, ollama, bedrock, "
                  "vertex or azure)",
                  "c.yaml:6:5: providers[0].typ: unknown key \"typ\" (did you mean \"type\"?)",
                  "c.yaml:7:5: providers[0].Models: unknown key \"Models\" (did you mean "
                  "\"models\"?)",
                  "c.yaml:10:9: providers[0].keys[0].rpm_limt: unknown key \"rpm_limt\" (did you "
                  "mean \"rpm_limit\"?)",
                  "c.yaml:11:9: providers[0].keys[0].colour: unknown key \"colour\"",
                  "c.yaml:13:14: routing.failover.primray: unknown key \"primray\" (did you mean "
                  "\"primary\"?)",
                  "c.yaml:14:3: routing.MAX_ATTEMPTS: unknown key \"MAX_ATTEMPTS\" (did you mean "
                  "\"max_attempts\"?)"));
}

TEST(ConfigErrorsTest, UnknownTimeoutAndAuthKeys) {
  EXPECT_THAT(ErrorsOf("server:\n  timeouts:\n    conect_ms: 1\n  auth:\n    apikey: x\n" +
                       std::string(kProvider)),
              ElementsAre("c.yaml:3:5: server.timeouts.conect_ms: unknown key \"conect_ms\" (did "
                          "you mean \"connect_ms\"?)",
                          "c.yaml:5:5: server.auth.apikey: unknown key \"apikey\" (did you mean "
                          "\"api_key\"?)"));
}

TEST(ConfigErrorsTest, WrongTypes) {
  EXPECT_THAT(
      ErrorsOf(R"(server:
  listen: [a]
  workers: -1
  max_body_bytes: 1.5
  timeouts: 5
  auth:
    allow_subscription: yes
    allow_bearer: 1
logging: [debug]
providers:
  - name: a
    type: anthropic
    enabled: "maybe"
    models: claude
    keys: {key: k}
  - name: b
    type: anthropic
    models: [{x: y}]
    model_mapping: [a, b]
    keys:
      - key: [k]
        weight: heavy
        enabled:
routing: fast
)"),
      ElementsAre(
          "c.yaml:2:11: server.listen: expected a string, got a list",
          "c.yaml:3:12: server.workers: expected a non-negative integer, got \"-1\"",
          "c.yaml:4:19: server.max_body_bytes: expected a non-negative integer, got \"1.5\"",
          "c.yaml:5:13: server.timeouts: expected a mapping, got \"5\"",
          "c.yaml:7:25: server.auth.allow_subscription: expected true or false, got \"yes\"",
          "c.yaml:8:19: server.auth.allow_bearer: expected true or false, got \"1\"",
          "c.yaml:9:10: logging: expected a mapping, got a list",
          "c.yaml:13:14: providers[0].enabled: expected true or false, got \"maybe\"",
          "c.yaml:14:13: providers[0].models: expected a list, got \"claude\"",
          "c.yaml:15:11: providers[0].keys: expected a list, got a mapping",
          "c.yaml:18:14: providers[1].models[0]: expected a string, got a mapping",
          "c.yaml:19:20: providers[1].model_mapping: expected a mapping, got a list",
          "c.yaml:21:14: providers[1].keys[0].key: expected a string, got a list",
          "c.yaml:22:17: providers[1].keys[0].weight: expected a non-negative integer, got "
          "\"heavy\"",
          "c.yaml:23:9: providers[1].keys[0].enabled: expected true or false, got an empty value",
          "c.yaml:24:10: routing: expected a mapping, got \"fast\""));
}

TEST(ConfigErrorsTest, IntegerRanges) {
  EXPECT_THAT(
      ErrorsOf(R"(server:
  workers: 1025
  max_body_bytes: 0
  max_header_bytes: 4294967296
  timeouts: {idle_ms: 0, total_ms: 99999999999999999999999}
providers:
  - name: a
    type: anthropic
    weight: 4294967296
    keys: [{key: k, rpm_limit: 4294967296, weight: 0}]
routing: {max_attempts: 11}
)"),
      ElementsAre("c.yaml:2:12: server.workers: expected a non-negative integer of at most 1024, "
                  "got \"1025\"",
                  "c.yaml:3:19: server.max_body_bytes: must be greater than 0",
                  "c.yaml:4:21: server.max_header_bytes: expected a non-negative integer of at "
                  "most 4294967295, got \"4294967296\"",
                  "c.yaml:5:23: server.timeouts.idle_ms: must be greater than 0",
                  "c.yaml:5:36: server.timeouts.total_ms: expected a non-negative integer of at "
                  "most 4294967295, got \"99999999999999999999999\"",
                  "c.yaml:9:13: providers[0].weight: expected a non-negative integer of at most "
                  "4294967295, got \"4294967296\"",
                  "c.yaml:10:32: providers[0].keys[0].rpm_limit: expected a non-negative integer "
                  "of at most 4294967295, got \"4294967296\"",
                  "c.yaml:10:52: providers[0].keys[0].weight: must be at least 1 (disable a key "
                  "with enabled: false)",
                  "c.yaml:11:25: routing.max_attempts: must be between 1 and 10, got 11"));
  EXPECT_THAT(ErrorsOf("routing: {max_attempts: 0}\n" + std::string(kProvider)),
              ElementsAre("c.yaml:1:25: routing.max_attempts: must be between 1 and 10, got 0"));
}

TEST(ConfigErrorsTest, EveryTimeoutMustBePositive) {
  for (const char* key : {"connect_ms", "first_byte_ms", "first_byte_non_stream_ms", "idle_ms",
                          "total_ms", "request_header_ms", "request_body_ms", "keepalive_ms",
                          "drain_ms", "upstream_idle_pool_ms"}) {
    EXPECT_THAT(ErrorsOf("server:\n  timeouts:\n    " + std::string(key) + ": 0\n" +
                         std::string(kProvider)),
                ElementsAre("c.yaml:3:" + std::to_string(7 + std::string(key).size()) +
                            ": server.timeouts." + key + ": must be greater than 0"));
  }
}

TEST(ConfigErrorsTest, EnumValues) {
  EXPECT_THAT(
      ErrorsOf("logging: {level: warning, format: JSON}\n" + std::string(kProvider)),
      ElementsAre("c.yaml:1:18: logging.level: expected one of debug, info, warn, error, got "
                  "\"warning\"",
                  "c.yaml:1:35: logging.format: expected one of text, json, got \"JSON\" (did you "
                  "mean \"json\"?)"));
  EXPECT_THAT(ErrorsOf("logging: {level: inf}\n" + std::string(kProvider)),
              ElementsAre("c.yaml:1:18: logging.level: expected one of debug, info, warn, error, "
                          "got \"inf\" (did you mean \"info\"?)"));
}

TEST(ConfigErrorsTest, ProviderTypes) {
  EXPECT_THAT(ErrorsOf(R"(providers:
  - {name: a, type: antropic}
  - {name: c, type: vertx}
  - {name: e, type: openai}
  - {name: f, type: anthropic}
)"),
              ElementsAre("c.yaml:2:21: providers[0].type: unknown provider type \"antropic\" "
                          "(did you mean \"anthropic\"?); expected anthropic, zai, ollama, "
                          "bedrock, vertex or azure",
                          "c.yaml:3:21: providers[1].type: unknown provider type \"vertx\" "
                          "(did you mean \"vertex\"?); expected anthropic, zai, ollama, "
                          "bedrock, vertex or azure",
                          "c.yaml:4:21: providers[2].type: unknown provider type \"openai\"; "
                          "expected anthropic, zai, ollama, bedrock, vertex or azure"));
}

TEST(ConfigErrorsTest, BedrockSettings) {
  // aws_region is required; AWS settings belong to bedrock only; a key entry is a Bedrock API
  // key or IAM credentials, complete, never both; no secret is echoed.
  EXPECT_THAT(ErrorsOf(R"(providers:
  - {name: b, type: bedrock}
  - {name: c, type: bedrock, aws_region: "US East"}
  - {name: a, type: anthropic, aws_region: us-east-1}
  - name: d
    type: bedrock
    aws_region: eu-west-1
    keys:
      - {aws_access_key_id: AKIDSECRETVALUE1}
      - {aws_secret_access_key: wJalrSECRETVALUE2}
      - {key: br-SECRETVALUE3, aws_access_key_id: AKIDSECRETVALUE4, aws_secret_access_key: x}
)"),
              ElementsAre("c.yaml:2:5: providers[0].aws_region: required for type: bedrock (the "
                          "AWS region, e.g. us-east-1)",
                          "c.yaml:3:42: providers[1].aws_region: not an AWS region name: "
                          "\"US East\" (e.g. us-east-1)",
                          "c.yaml:4:44: providers[2].aws_region: only a provider of type: "
                          "bedrock has this setting",
                          "c.yaml:9:9: providers[3].keys[0].aws_secret_access_key: required: "
                          "the AWS secret access key (e.g. \"${AWS_SECRET_ACCESS_KEY}\")",
                          "c.yaml:10:9: providers[3].keys[1].aws_access_key_id: required with "
                          "aws_secret_access_key / aws_session_token",
                          "c.yaml:11:15: providers[3].keys[2].key: a key entry has either `key` "
                          "(a Bedrock API key) or AWS credentials (aws_access_key_id, "
                          "aws_secret_access_key), not both"));
}

TEST(ConfigErrorsTest, BedrockKeysCompile) {
  LoadResult r = LoadConfigString(R"(providers:
  - name: br
    type: bedrock
    aws_region: us-west-2
    keys:
      - key: bedrock-api-key-1
      - aws_access_key_id: AKIDEXAMPLE
        aws_secret_access_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
        aws_session_token: ""
      - aws_access_key_id: ASIAEXAMPLE
        aws_secret_access_key: secret2
        aws_session_token: token2
)", "c.yaml", FakeEnv());
  ASSERT_TRUE(r.ok()) << AllText([&] {
    std::vector<std::string> e;
    for (const ConfigError& x : r.errors) {
      e.push_back(x.ToString());
    }
    return e;
  }());
  const auto& p = r.snapshot->providers(0);
  EXPECT_EQ(p.base_url(), "https://bedrock-runtime.us-west-2.amazonaws.com");
  ASSERT_EQ(p.keys_size(), 3);
  EXPECT_EQ(p.keys(0).secret(), "bedrock-api-key-1");
  EXPECT_FALSE(p.keys(0).has_aws());
  EXPECT_EQ(p.keys(1).secret(), "");
  EXPECT_EQ(p.keys(1).aws().access_key_id(), "AKIDEXAMPLE");
  EXPECT_EQ(p.keys(1).aws().session_token(), "");
  EXPECT_EQ(p.keys(1).aws().source(), "config");
  EXPECT_EQ(p.keys(1).fingerprint(), ccrelay::common::FingerprintOf("AKIDEXAMPLE"));
  EXPECT_EQ(p.keys(2).aws().session_token(), "token2");
}

TEST(ConfigErrorsTest, RoutingStrategies) {
  EXPECT_THAT(ErrorsOf("routing: {strategy: latency-based}\n" + std::string(kProvider)),
              ElementsAre("c.yaml:1:21: routing.strategy: routing strategy 'latency-based' is "
                          "not supported by this build yet"));
  EXPECT_THAT(ErrorsOf("routing: {strategy: round_robin}\n" + std::string(kProvider)),
              ElementsAre("c.yaml:1:21: routing.strategy: unknown routing strategy "
                          "\"round_robin\" (did you mean \"round-robin\"?); expected shuffle, "
                          "round-robin, failover, least-busy or cost-based"));
}

TEST(ConfigErrorsTest, ProviderNameRules) {
  EXPECT_THAT(
      ErrorsOf(R"(providers:
  - type: anthropic
  - name: "has space"
    type: anthropic
  - name: ""
    type: anthropic
  - name: ok
    type: anthropic
)"),
      ElementsAre("c.yaml:2:5: providers[0].name: required: every provider needs a unique name",
                  "c.yaml:3:11: providers[1].name: invalid provider name \"has space\": use 1 to "
                  "64 of A-Z a-z 0-9 . _ -",
                  "c.yaml:5:11: providers[2].name: invalid provider name \"\": use 1 to 64 of A-Z "
                  "a-z 0-9 . _ -"));
}

TEST(ConfigErrorsTest, DuplicateProviderNames) {
  EXPECT_THAT(ErrorsOf(R"(providers:
  - name: main
    type: anthropic
  - name: other
    type: ollama
  - name: main
    type: ollama
)"),
              ElementsAre("c.yaml:6:11: providers[2].name: duplicate provider name \"main\" "
                          "(first defined at line 2)"));
}

TEST(ConfigErrorsTest, DuplicateMappingKeys) {
  EXPECT_THAT(ErrorsOf(R"(server:
  workers: 1
  workers: 2
providers:
  - name: a
    type: anthropic
    model_mapping:
      "x": "y"
      "x": "z"
)"),
              ElementsAre("c.yaml:3:3: server.workers: duplicate key \"workers\" (first at line 2)",
                          "c.yaml:9:7: providers[0].model_mapping[\"x\"]: duplicate key \"x\" "
                          "(first at line 8)"));
}

TEST(ConfigErrorsTest, FailoverReferences) {
  EXPECT_THAT(ErrorsOf(R"(providers:
  - {name: anthropic, type: anthropic}
  - {name: zai, type: zai, keys: [{key: z}]}
routing:
  strategy: failover
  failover:
    primary: antropic
    fallbacks: [zai, zai, ollama, anthropic]
)"),
              ElementsAre("c.yaml:7:14: routing.failover.primary: no provider named \"antropic\" "
                          "(did you mean \"anthropic\"?)",
                          "c.yaml:8:22: routing.failover.fallbacks[1]: duplicate fallback \"zai\" "
                          "(already at routing.failover.fallbacks[0])",
                          "c.yaml:8:27: routing.failover.fallbacks[2]: no provider named "
                          "\"ollama\""));
  EXPECT_THAT(ErrorsOf(R"(providers:
  - {name: anthropic, type: anthropic}
routing:
  failover:
    primary: anthropic
    fallbacks: [anthropic]
)"),
              ElementsAre("c.yaml:6:17: routing.failover.fallbacks[0]: \"anthropic\" is already "
                          "the failover primary"));
}

TEST(ConfigErrorsTest, FailoverNeedsPrimary) {
  EXPECT_THAT(ErrorsOf("routing:\n  strategy: failover\n" + std::string(kProvider)),
              ElementsAre("c.yaml:2:3: routing.failover.primary: required when routing.strategy "
                          "is failover"));
  EXPECT_THAT(ErrorsOf("routing:\n  strategy: failover\n  failover:\n    fallbacks: [a]\n" +
                       std::string(kProvider)),
              ElementsAre("c.yaml:4:5: routing.failover.primary: required when routing.strategy "
                          "is failover"));
}

TEST(ConfigErrorsTest, AtLeastOneEnabledProvider) {
  EXPECT_THAT(ErrorsOf("server: {workers: 1}\n"),
              ElementsAre("c.yaml:1:1: providers: at least one enabled provider is required"));
  EXPECT_THAT(ErrorsOf("providers: []\n"),
              ElementsAre("c.yaml:1:12: providers: at least one enabled provider is required"));
  EXPECT_THAT(ErrorsOf("providers:\n"),
              ElementsAre("c.yaml:1:1: providers: at least one enabled provider is required"));
  EXPECT_THAT(ErrorsOf("providers:\n  - {name: a, type: anthropic, enabled: false}\n"),
              ElementsAre("c.yaml:2:3: providers: at least one enabled provider is required"));
  EXPECT_THAT(ErrorsOf(""),
              ElementsAre("c.yaml:1:1: providers: at least one enabled provider is required"));
  EXPECT_THAT(ErrorsOf("# only a comment\n"),
              ElementsAre("c.yaml:1:1: providers: at least one enabled provider is required"));
}

TEST(ConfigErrorsTest, ZaiNeedsAKey) {
  EXPECT_THAT(ErrorsOf(R"(providers:
  - name: z
    type: zai
  - name: z2
    type: zai
    keys: [{key: k, enabled: false}]
)"),
              ElementsAre("c.yaml:2:5: providers[0].keys: a zai provider requires at least one key",
                          "c.yaml:6:11: providers[1].keys: every key is disabled; an enabled zai "
                          "provider needs an enabled key"));
}

TEST(ConfigErrorsTest, KeyRules) {
  EXPECT_THAT(ErrorsOf(R"(providers:
  - name: a
    type: anthropic
    keys:
      - rpm_limit: 1
      - key: ""
      - key:
      - key: "${EMPTY}"
)",
                       FakeEnv({{"EMPTY", ""}})),
              ElementsAre("c.yaml:5:9: providers[0].keys[0].key: required: the API key (e.g. "
                          "\"${ANTHROPIC_API_KEY}\")",
                          "c.yaml:6:14: providers[0].keys[1].key: must not be empty",
                          "c.yaml:7:9: providers[0].keys[2].key: must not be empty",
                          "c.yaml:8:14: providers[0].keys[3].key: must not be empty"));
}

TEST(ConfigErrorsTest, DuplicateKeysWithinAProvider) {
  EXPECT_THAT(ErrorsOf(R"(providers:
  - name: a
    type: anthropic
    keys:
      - key: "sk-same"
      - key: "sk-other"
      - key: "${SAME}"
        enabled: false
)",
                       FakeEnv({{"SAME", "sk-same"}})),
              ElementsAre("c.yaml:7:14: providers[0].keys[2].key: duplicate key: the same value "
                          "as providers[0].keys[0]"));
}

TEST(ConfigErrorsTest, ModelRules) {
  EXPECT_THAT(ErrorsOf(R"(providers:
  - name: a
    type: anthropic
    models: [m1, "", m1]
    model_mapping:
      "claude-*-latest": x
      "claude-sonnet": ""
)"),
              ElementsAre("c.yaml:4:18: providers[0].models[1]: model name must not be empty",
                          "c.yaml:4:22: providers[0].models[2]: model \"m1\" is already listed "
                          "at providers[0].models[0]",
                          "c.yaml:6:7: providers[0].model_mapping[\"claude-*-latest\"]: '*' is "
                          "only allowed at the end of a model name (a prefix match)",
                          "c.yaml:7:24: providers[0].model_mapping[\"claude-sonnet\"]: the "
                          "provider model name must not be empty"));
}

TEST(ConfigErrorsTest, BaseUrlAndListenValues) {
  EXPECT_THAT(ErrorsOf(R"(server:
  listen: "localhost"
providers:
  - name: a
    type: anthropic
    base_url: "api.anthropic.com"
  - name: b
    type: ollama
    base_url: "http://"
)"),
              ElementsAre("c.yaml:2:11: server.listen: missing port (expected host:port, e.g. "
                          "\"127.0.0.1:8787\"), got \"localhost\"",
                          "c.yaml:6:15: providers[0].base_url: must start with http:// or "
                          "https://, got \"api.anthropic.com\"",
                          "c.yaml:9:15: providers[1].base_url: has no host, got \"http://\""));
}

TEST(ConfigErrorsTest, EnvErrorsAtTheScalarPosition) {
  EXPECT_THAT(ErrorsOf(R"(server:
  listen: "${LISTEN_ADDR}"
providers:
  - name: anthropic
    type: anthropic
    keys:
      - key: "${ANTHROPIC_API_KEY}"
      - key: "${K1}${K2}"
)"),
              ElementsAre("c.yaml:2:11: server.listen: environment variable LISTEN_ADDR is not "
                          "set",
                          "c.yaml:7:14: providers[0].keys[0].key: environment variable "
                          "ANTHROPIC_API_KEY is not set",
                          "c.yaml:8:14: providers[0].keys[1].key: environment variable K1 is not "
                          "set",
                          "c.yaml:8:14: providers[0].keys[1].key: environment variable K2 is not "
                          "set"));
}

TEST(ConfigErrorsTest, EnvValueOfWrongTypeIsReportedAfterExpansion) {
  EXPECT_THAT(
      ErrorsOf("server: {workers: \"${W}\"}\n" + std::string(kProvider), FakeEnv({{"W", "four"}})),
      ElementsAre("c.yaml:1:19: server.workers: expected a non-negative integer, got "
                  "\"four\""));
}

TEST(ConfigErrorsTest, SecretsAreNeverEchoed) {
  const std::string secret = "sk-ant-SUPERSECRET";
  const std::vector<std::string> errors =
      ErrorsOf(R"(server:
  auth:
    api_key: "${PROXY}"
    bearer_secret: "${BEARER}"
providers:
  - name: a
    type: anthropic
    keys:
      - key: "${KEY}"
      - key: "${KEY}"
      - sk-ant-SUPERSECRET
      - key: |
          sk-ant-SUPERSECRET
)",
               FakeEnv({{"PROXY", secret + "\n"}, {"BEARER", " " + secret}, {"KEY", secret}}));
  EXPECT_THAT(errors,
              ElementsAre("c.yaml:3:14: server.auth.api_key: must not contain control characters "
                          "or line breaks",
                          "c.yaml:4:20: server.auth.bearer_secret: must not start or end with a "
                          "space",
                          "c.yaml:10:14: providers[0].keys[1].key: duplicate key: the same value "
                          "as providers[0].keys[0]",
                          "c.yaml:11:9: providers[0].keys[2]: expected a mapping with a \"key\" "
                          "field (write `- key: ...`), got a plain value",
                          "c.yaml:12:14: providers[0].keys[3].key: must not contain control "
                          "characters or line breaks"))
      << AllText(errors);
  EXPECT_THAT(AllText(errors), Not(HasSubstr("SUPERSECRET")));
}

TEST(ConfigErrorsTest, SecretOfWrongTypeSaysValue) {
  // A YAML scalar is always a valid string, so type errors on secrets only name the kind; an
  // unset variable names only the variable.
  const std::vector<std::string> errors = ErrorsOf(
      "server: {auth: {api_key: {k: sk-ant-SUPERSECRET}, bearer_secret: "
      "\"sk-ant-SUPERSECRET${X}\"}}\n" +
      std::string(kProvider));
  EXPECT_THAT(errors, ElementsAre("c.yaml:1:26: server.auth.api_key: expected a string, got a "
                                  "mapping",
                                  "c.yaml:1:66: server.auth.bearer_secret: environment variable X "
                                  "is not set"));
  EXPECT_THAT(AllText(errors), Not(HasSubstr("SUPERSECRET")));
}

TEST(ConfigErrorsTest, SecretWrittenWhereAContainerBelongsIsNotEchoed) {
  const std::vector<std::string> errors = ErrorsOf(R"(server:
  auth: sk-ant-SUPERSECRET
providers:
  - name: a
    type: anthropic
    keys: sk-ant-SUPERSECRET
)");
  EXPECT_THAT(errors, ElementsAre("c.yaml:2:9: server.auth: expected a mapping, got value",
                                  "c.yaml:6:11: providers[0].keys: expected a list, got value"));
  EXPECT_THAT(AllText(errors), Not(HasSubstr("SUPERSECRET")));
}

TEST(ConfigErrorsTest, AllErrorsAreCollectedAcrossSections) {
  const std::vector<std::string> errors = ErrorsOf(R"(server:
  workers: x
  timeouts: {connect_ms: 0}
logging: {format: xml}
providers:
  - name: a
    type: anthropic
    keys: [{key: "${MISSING}"}]
  - name: b
    type: nope
routing:
  strategy: failover
  failover: {primary: c}
)");
  EXPECT_EQ(errors.size(), 6u) << AllText(errors);
  EXPECT_THAT(errors[0], HasSubstr("server.workers"));
  EXPECT_THAT(errors[1], HasSubstr("server.timeouts.connect_ms"));
  EXPECT_THAT(errors[2], HasSubstr("logging.format"));
  EXPECT_THAT(errors[3], HasSubstr("providers[0].keys[0].key: environment variable MISSING"));
  EXPECT_THAT(errors[4], HasSubstr("providers[1].type"));
  EXPECT_THAT(errors[5], HasSubstr("routing.failover.primary: no provider named \"c\""));
}

TEST(ConfigErrorsTest, ProviderWithOtherErrorsStillResolvesReferences) {
  // "b" has a bad key, but routing may still name it: only the real error is reported.
  EXPECT_THAT(ErrorsOf(R"(providers:
  - name: a
    type: anthropic
  - name: b
    type: anthropic
    keys: [{key: k, rpm_limit: x}]
routing:
  failover: {primary: b}
)"),
              ElementsAre("c.yaml:6:32: providers[1].keys[0].rpm_limit: expected a non-negative "
                          "integer, got \"x\""));
}

TEST(ConfigErrorsTest, YamlSyntaxErrors) {
  EXPECT_THAT(ErrorsOf("providers: [\n  - name: a\n"),
              ElementsAre("c.yaml:2:3: invalid YAML: illegal block entry"));
  EXPECT_THAT(ErrorsOf("server: {listen: x\n"), ElementsAre(HasSubstr("invalid YAML")));
  EXPECT_THAT(ErrorsOf("a: b\n  c: d\n"), ElementsAre("c.yaml:2:4: invalid YAML: illegal map "
                                                      "value"));
  // yaml-cpp 0.7's LoadAll never returns on these (jbeder/yaml-cpp#1040).
  EXPECT_THAT(ErrorsOf(","), ElementsAre("c.yaml:1:1: invalid YAML: unexpected token"));
  EXPECT_THAT(ErrorsOf("\n  ,fallbacks"),
              ElementsAre("c.yaml:2:3: invalid YAML: unexpected token"));
  // Deep nesting is a clean error, not a stack overflow.
  EXPECT_THAT(ErrorsOf(std::string(100000, '[')), ElementsAre(HasSubstr("invalid YAML")));
}

TEST(ConfigErrorsTest, DocumentShape) {
  EXPECT_THAT(ErrorsOf("just a string\n"),
              ElementsAre("c.yaml:1:1: expected a mapping, got \"just a string\""));
  EXPECT_THAT(ErrorsOf("- a\n- b\n"), ElementsAre("c.yaml:1:1: expected a mapping, got a list"));
  EXPECT_THAT(ErrorsOf(std::string(kProvider) + "---\n" + std::string(kProvider)),
              ElementsAre("c.yaml:2:1: only one YAML document is allowed (found a second after "
                          "\"---\")"));
  EXPECT_THAT(ErrorsOf("? [a, b]\n: c\n" + std::string(kProvider)),
              ElementsAre("c.yaml:1:3: expected a non-empty string as key, got a list"));
}

TEST(ConfigErrorsTest, GarbageIsRejectedWithoutThrowing) {
  for (std::string_view text :
       {std::string_view("\0\0\0", 3), std::string_view("\xff\xfe\x00x", 4),
        std::string_view("*unknown_alias"), std::string_view("a: &x\n  b: *x\n"),
        std::string_view("{{{{}}}}"), std::string_view("!!binary 3"),
        std::string_view("%YAML 9.9\n---\na: b")}) {
    LoadResult r = LoadConfigString(text, "g.yaml", FakeEnv());
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(r.snapshot.has_value());
    for (const ConfigError& e : r.errors) {
      EXPECT_GE(e.line, 1);
      EXPECT_GE(e.column, 1);
    }
  }
}

TEST(ConfigErrorsTest, ErrorFloodIsCapped) {
  std::string yaml = "providers:\n  - name: a\n    type: anthropic\n    keys:\n";
  for (int i = 0; i < 1000; ++i) {
    yaml += "      - {key: k" + std::to_string(i) + ", rpm_limit: bad}\n";
  }
  LoadResult r = LoadConfigString(yaml, "c.yaml", FakeEnv());
  ASSERT_EQ(r.errors.size(), 100u);
  EXPECT_THAT(r.errors.back().message, HasSubstr("too many errors"));
}

// ---- Vertex AI, Azure Foundry and providers[].betas ----

// Loads `yaml`, expecting no error.
ccrelay::v1::RoutingSnapshot LoadOk(std::string_view yaml, const EnvLookup& env = FakeEnv()) {
  LoadResult r = LoadConfigString(yaml, "c.yaml", env);
  std::string all;
  for (const ConfigError& e : r.errors) {
    all += e.ToString() + "\n";
  }
  EXPECT_TRUE(r.ok()) << all;
  return r.ok() ? *r.snapshot : ccrelay::v1::RoutingSnapshot();
}

TEST(ConfigErrorsTest, VertexCompilesWithTheBaseUrlOfItsRegion) {
  const auto s = LoadOk(R"(providers:
  - {name: g, type: vertex, gcp_project_id: my-project, gcp_region: global}
  - {name: u, type: vertex, gcp_project_id: my-project, gcp_region: us}
  - {name: e, type: vertex, gcp_project_id: example.com:proj, gcp_region: eu}
  - name: r
    type: vertex
    gcp_project_id: p-1
    gcp_region: us-east5
    keys: [{key: ya29.static}]
  - {name: o, type: vertex, gcp_project_id: p, gcp_region: global, base_url: "http://127.0.0.1:9/v1/"}
)");
  ASSERT_EQ(s.providers_size(), 5);
  EXPECT_EQ(s.providers(0).base_url(), "https://aiplatform.googleapis.com/v1");
  EXPECT_EQ(s.providers(0).gcp_project_id(), "my-project");
  EXPECT_EQ(s.providers(0).gcp_region(), "global");
  EXPECT_EQ(s.providers(1).base_url(), "https://aiplatform.us.rep.googleapis.com/v1");
  EXPECT_EQ(s.providers(2).base_url(), "https://aiplatform.eu.rep.googleapis.com/v1");
  EXPECT_EQ(s.providers(2).gcp_project_id(), "example.com:proj");
  EXPECT_EQ(s.providers(3).base_url(), "https://us-east5-aiplatform.googleapis.com/v1");
  ASSERT_EQ(s.providers(3).keys_size(), 1);
  EXPECT_EQ(s.providers(3).keys(0).secret(), "ya29.static");
  EXPECT_EQ(s.providers(4).base_url(), "http://127.0.0.1:9/v1");
}

TEST(ConfigErrorsTest, VertexTokenSettings) {
  testing::TempDir dir;
  dir.WriteFile("sa.json", R"({"type":"service_account"})");
  const std::string config = dir.WriteFile("c.yaml", R"(providers:
  - name: g
    type: vertex
    gcp_project_id: p
    gcp_region: global
    gcp_credentials_file: sa.json
    gcp_token_endpoint: "HTTP://127.0.0.1:8/token/"
    gcp_metadata_endpoint: http://127.0.0.1:9
)");
  LoadResult r = LoadConfigFile(config, FakeEnv());
  ASSERT_TRUE(r.ok());
  const auto& ts = r.snapshot->providers(0).token_source();
  // Relative to the config file's directory.
  EXPECT_EQ(ts.gcp_credentials_file(), dir.path() + "/sa.json");
  EXPECT_EQ(ts.gcp_token_endpoint(), "http://127.0.0.1:8/token");
  EXPECT_EQ(ts.gcp_metadata_endpoint(), "http://127.0.0.1:9");
  EXPECT_EQ(r.snapshot->providers(0).keys_size(), 0);
}

TEST(ConfigErrorsTest, VertexSettingsErrors) {
  EXPECT_THAT(
      ErrorsOf(R"(providers:
  - {name: a, type: vertex}
  - {name: b, type: vertex, gcp_project_id: "My Project", gcp_region: "US East"}
  - {name: c, type: anthropic, gcp_project_id: p, gcp_region: global}
  - {name: d, type: vertex, gcp_project_id: p, gcp_region: us, gcp_credentials_file: /nonexistent/sa.json}
  - {name: e, type: vertex, gcp_project_id: p, gcp_region: us, gcp_token_endpoint: "ftp://x"}
  - {name: f, type: vertex, gcp_project_id: p, gcp_region: us, keys: [{}]}
)"),
      ElementsAre(
          "c.yaml:2:5: providers[0].gcp_project_id: required for type: vertex (the Google Cloud "
          "project id, e.g. my-project)",
          "c.yaml:2:5: providers[0].gcp_region: required for type: vertex (global, us, eu or a "
          "region such as us-east5)",
          "c.yaml:3:45: providers[1].gcp_project_id: not a Google Cloud project id: \"My "
          "Project\" (lowercase letters, digits and '-', e.g. my-project)",
          "c.yaml:3:71: providers[1].gcp_region: not a Vertex AI location: \"US East\" (global, "
          "us, eu or a region such as us-east5)",
          "c.yaml:4:48: providers[2].gcp_project_id: only a provider of type: vertex has this "
          "setting",
          "c.yaml:4:63: providers[2].gcp_region: only a provider of type: vertex has this setting",
          "c.yaml:5:86: providers[3].gcp_credentials_file: file not found: "
          "\"/nonexistent/sa.json\"",
          "c.yaml:6:84: providers[4].gcp_token_endpoint: must start with http:// or https://, got "
          "\"ftp://x\"",
          "c.yaml:7:71: providers[5].keys[0].key: required: a Google access token (e.g. "
          "\"${VERTEX_ACCESS_TOKEN}\")"));
}

TEST(ConfigErrorsTest, TokenSettingsWithKeysAreAnError) {
  EXPECT_THAT(ErrorsOf(R"(providers:
  - name: a
    type: vertex
    gcp_project_id: p
    gcp_region: us
    gcp_metadata_endpoint: http://127.0.0.1:1
    keys: [{key: t}]
  - name: b
    type: azure
    azure_resource_name: r
    azure_client_secret: SECRETVALUE9
    keys: [{key: k}]
)"),
              ElementsAre("c.yaml:6:28: providers[0].gcp_metadata_endpoint: a provider with keys "
                          "uses them: token settings apply only to a provider without keys",
                          "c.yaml:11:26: providers[1].azure_client_secret: a provider with keys "
                          "uses them: token settings apply only to a provider without keys"));
}

TEST(ConfigErrorsTest, AzureCompiles) {
  const auto s = LoadOk(R"(providers:
  - name: k
    type: azure
    azure_resource_name: my-res
    keys: [{key: "${AZ_KEY}"}]
    model_mapping: {claude-opus-4-1: opus-deployment}
  - name: e
    type: azure
    base_url: http://127.0.0.1:9/anthropic
    azure_auth: client_secret
    azure_tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
    azure_client_id: contoso.onmicrosoft.com
    azure_client_secret: "${AZ_SECRET}"
    azure_federated_token_file: /var/run/token
    azure_authority_host: http://127.0.0.1:10/
    azure_imds_endpoint: http://127.0.0.1:11
    azure_scope: https://cognitiveservices.azure.com/.default
)",
                      FakeEnv({{"AZ_KEY", "az-key-value"}, {"AZ_SECRET", "client-secret-value"}}));
  ASSERT_EQ(s.providers_size(), 2);
  EXPECT_EQ(s.providers(0).base_url(), "https://my-res.services.ai.azure.com/anthropic");
  EXPECT_EQ(s.providers(0).azure_resource_name(), "my-res");
  EXPECT_EQ(s.providers(0).keys(0).secret(), "az-key-value");
  const auto& e = s.providers(1);
  EXPECT_EQ(e.base_url(), "http://127.0.0.1:9/anthropic");
  EXPECT_EQ(e.azure_resource_name(), "");
  const auto& ts = e.token_source();
  EXPECT_EQ(ts.azure_auth(), "client_secret");
  EXPECT_EQ(ts.azure_tenant_id(), "72f988bf-86f1-41af-91ab-2d7cd011db47");
  EXPECT_EQ(ts.azure_client_id(), "contoso.onmicrosoft.com");
  EXPECT_EQ(ts.azure_client_secret(), "client-secret-value");
  EXPECT_EQ(ts.azure_federated_token_file(), "/var/run/token");
  EXPECT_EQ(ts.azure_authority_host(), "http://127.0.0.1:10");
  EXPECT_EQ(ts.azure_imds_endpoint(), "http://127.0.0.1:11");
  EXPECT_EQ(ts.azure_scope(), "https://cognitiveservices.azure.com/.default");
}

TEST(ConfigErrorsTest, AzureSettingsErrorsNeverEchoTheSecret) {
  const std::vector<std::string> errors = ErrorsOf(R"(providers:
  - {name: a, type: azure}
  - {name: b, type: azure, azure_resource_name: My_Res}
  - {name: c, type: azure, azure_resource_name: r, base_url: "http://127.0.0.1:1"}
  - {name: d, type: zai, keys: [{key: k}], azure_client_secret: SECRETVALUE1, azure_scope: s}
  - {name: e, type: azure, azure_resource_name: r, azure_auth: password, azure_tenant_id: "a b"}
  - {name: f, type: azure, azure_resource_name: r, azure_client_secret: " SECRETVALUE2"}
  - {name: g, type: azure, azure_resource_name: r, azure_imds_endpoint: "x", azure_scope: "a b"}
)");
  EXPECT_THAT(
      errors,
      ElementsAre(
          "c.yaml:2:5: providers[0].azure_resource_name: required for type: azure unless base_url "
          "is given (the Foundry resource: "
          "https://<azure_resource_name>.services.ai.azure.com/anthropic)",
          "c.yaml:3:49: providers[1].azure_resource_name: not an Azure resource name: \"My_Res\" "
          "(lowercase letters, digits and '-')",
          "c.yaml:4:49: providers[2].azure_resource_name: give azure_resource_name or base_url, "
          "not both",
          "c.yaml:5:65: providers[3].azure_client_secret: only a provider of type: azure has this "
          "setting",
          "c.yaml:5:92: providers[3].azure_scope: only a provider of type: azure has this setting",
          "c.yaml:6:64: providers[4].azure_auth: expected one of managed_identity, client_secret, "
          "workload_identity, got \"password\"",
          "c.yaml:6:91: providers[4].azure_tenant_id: not an Entra ID id: \"a b\" (a GUID or a "
          "domain name)",
          "c.yaml:7:73: providers[5].azure_client_secret: must not start or end with a space",
          "c.yaml:8:73: providers[6].azure_imds_endpoint: must start with http:// or https://, "
          "got \"x\"",
          "c.yaml:8:91: providers[6].azure_scope: must be one scope, e.g. "
          "https://ai.azure.com/.default"));
  for (const std::string& e : errors) {
    EXPECT_THAT(e, Not(HasSubstr("SECRETVALUE")));
  }
}

TEST(ConfigErrorsTest, BetasPolicy) {
  const auto s = LoadOk(R"(providers:
  - name: a
    type: anthropic
    betas:
      allow: [effort-2025-11-24]
      deny: [claude-code-20250219]
      rename: {advanced-tool-use-2025-11-20: tool-search-tool-2025-10-19}
)");
  const auto& b = s.providers(0).betas();
  ASSERT_EQ(b.allow_size(), 1);
  EXPECT_EQ(b.allow(0), "effort-2025-11-24");
  ASSERT_EQ(b.deny_size(), 1);
  EXPECT_EQ(b.deny(0), "claude-code-20250219");
  ASSERT_EQ(b.rename_size(), 1);
  EXPECT_EQ(b.rename(0).from(), "advanced-tool-use-2025-11-20");
  EXPECT_EQ(b.rename(0).to(), "tool-search-tool-2025-10-19");
}

TEST(ConfigErrorsTest, BetasPolicyErrors) {
  EXPECT_THAT(ErrorsOf(R"(providers:
  - name: a
    type: anthropic
    betas:
      allow: [ok-1, "bad beta"]
      deny: [OK-1]
      rename: {x-1: "y 2"}
      block: [z]
)"),
              ElementsAre("c.yaml:5:21: providers[0].betas.allow[1]: not a beta name: \"bad "
                          "beta\" (letters, digits, '-', '_', '.', e.g. context-1m-2025-08-07)",
                          "c.yaml:6:14: providers[0].betas.deny[0]: \"OK-1\" is already in allow",
                          "c.yaml:7:21: providers[0].betas.rename[\"x-1\"]: not a beta name: "
                          "\"y 2\" (letters, digits, '-', '_', '.', e.g. "
                          "context-1m-2025-08-07)",
                          "c.yaml:8:7: providers[0].betas.block: unknown key \"block\""));
}

TEST(ConfigErrorsTest, ShowConfigWritesTheNewKeysBackWithTheSecretRedacted) {
  const auto s = LoadOk(R"(providers:
  - {name: v, type: vertex, gcp_project_id: p, gcp_region: us-east5, gcp_token_endpoint: "http://127.0.0.1:1"}
  - name: z
    type: azure
    azure_resource_name: res
    azure_auth: client_secret
    azure_client_secret: SECRETVALUE3
    betas: {deny: [web-fetch-2025-09-10], rename: {a-1: b-2}}
)");
  const std::string yaml = RedactedConfigYaml(s, s);
  EXPECT_THAT(yaml, HasSubstr("gcp_project_id: p"));
  EXPECT_THAT(yaml, HasSubstr("gcp_region: us-east5"));
  EXPECT_THAT(yaml, HasSubstr("gcp_token_endpoint: http://127.0.0.1:1"));
  EXPECT_THAT(yaml, HasSubstr("azure_resource_name: res"));
  EXPECT_THAT(yaml, HasSubstr("azure_auth: client_secret"));
  EXPECT_THAT(yaml, HasSubstr("azure_client_secret: <redacted fingerprint="));
  EXPECT_THAT(yaml, HasSubstr("deny: [web-fetch-2025-09-10]"));
  EXPECT_THAT(yaml, HasSubstr("a-1: b-2"));
  EXPECT_THAT(yaml, Not(HasSubstr("SECRETVALUE3")));
  // What is written back loads again.
  const auto again = LoadOk(yaml);
  ASSERT_EQ(again.providers_size(), 2) << yaml;
  EXPECT_EQ(again.providers(1).base_url(), "https://res.services.ai.azure.com/anthropic");
  EXPECT_EQ(again.providers(1).betas().SerializeAsString(),
            s.providers(1).betas().SerializeAsString());
}

}  // namespace
}  // namespace ccrelay::controlplane
