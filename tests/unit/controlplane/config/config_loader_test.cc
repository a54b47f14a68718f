// The config loader's happy paths: defaults, the snapshot mapping, example.yaml, the built-in
// default and the default path. Error reporting is in config_errors_test.cc.
#include "controlplane/config/config_loader.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "dataplane/common/secret.h"

namespace ccrelay::controlplane {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

EnvLookup FakeEnv(std::map<std::string, std::string, std::less<>> vars = {}) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

std::string Errors(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) {
    out += e.ToString() + "\n";
  }
  return out;
}

ccrelay::v1::RoutingSnapshot LoadOk(std::string_view yaml, const EnvLookup& env = FakeEnv()) {
  LoadResult r = LoadConfigString(yaml, "test.yaml", env);
  EXPECT_TRUE(r.ok()) << Errors(r);
  EXPECT_TRUE(r.snapshot.has_value());
  return r.snapshot.value_or(ccrelay::v1::RoutingSnapshot());
}

constexpr std::string_view kMinimal = R"(
providers:
  - name: anthropic
    type: anthropic
)";

// Every server/logging/routing default, asserted field by field against the documented values.
void ExpectDefaultServerLoggingRouting(const ccrelay::v1::RoutingSnapshot& s) {
  EXPECT_EQ(s.server().listen(), "127.0.0.1:8787");
  EXPECT_EQ(s.server().workers(), 0u);
  EXPECT_EQ(s.server().max_body_bytes(), 33554432u);
  EXPECT_EQ(s.server().max_header_bytes(), 65536u);
  const auto& t = s.server().timeouts();
  EXPECT_EQ(t.connect_ms(), 5000u);
  EXPECT_EQ(t.first_byte_ms(), 60000u);
  EXPECT_EQ(t.first_byte_non_stream_ms(), 600000u);
  EXPECT_EQ(t.idle_ms(), 300000u);
  EXPECT_EQ(t.total_ms(), 90000u);
  EXPECT_EQ(t.request_header_ms(), 10000u);
  EXPECT_EQ(t.request_body_ms(), 60000u);
  EXPECT_EQ(t.keepalive_ms(), 120000u);
  EXPECT_EQ(t.drain_ms(), 30000u);
  EXPECT_EQ(t.upstream_idle_pool_ms(), 60000u);
  EXPECT_EQ(s.server().auth().api_key(), "");
  EXPECT_FALSE(s.server().auth().allow_subscription());
  EXPECT_FALSE(s.server().auth().allow_bearer());
  EXPECT_EQ(s.server().auth().bearer_secret(), "");
  EXPECT_EQ(s.logging().level(), "info");
  EXPECT_EQ(s.logging().format(), "text");
  EXPECT_EQ(s.routing().strategy(), "shuffle");
  EXPECT_EQ(s.routing().max_attempts(), 3u);
  EXPECT_EQ(s.routing().failover_primary(), "");
  EXPECT_THAT(s.routing().failover_fallbacks(), IsEmpty());
  EXPECT_EQ(s.version(), 0u);
}

TEST(ConfigLoaderTest, MinimalConfigGetsEveryDefault) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(kMinimal);
  ExpectDefaultServerLoggingRouting(s);
  EXPECT_EQ(s.source(), "test.yaml");
  ASSERT_EQ(s.providers_size(), 1);
  const auto& p = s.providers(0);
  EXPECT_EQ(p.name(), "anthropic");
  EXPECT_EQ(p.type(), "anthropic");
  EXPECT_TRUE(p.enabled());
  EXPECT_EQ(p.base_url(), "https://api.anthropic.com");
  EXPECT_EQ(p.ca_file(), "");
  EXPECT_EQ(p.weight(), 1u);
  EXPECT_THAT(p.models(), IsEmpty());
  EXPECT_THAT(p.keys(), IsEmpty());
  EXPECT_THAT(p.model_mapping(), IsEmpty());
}

TEST(ConfigLoaderTest, EmptySectionsMeanDefaults) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
server:
  timeouts:
  auth:
logging:
routing:
providers:
  - name: a
    type: anthropic
    models:
    keys:
    model_mapping:
)");
  ExpectDefaultServerLoggingRouting(s);
  EXPECT_THAT(s.providers(0).keys(), IsEmpty());
}

TEST(ConfigLoaderTest, DefaultBaseUrlPerType) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
providers:
  - {name: a, type: anthropic}
  - {name: z, type: zai, keys: [{key: k}]}
  - {name: o, type: ollama}
  - {name: b, type: bedrock, aws_region: eu-central-1}
)");
  ASSERT_EQ(s.providers_size(), 4);
  EXPECT_EQ(s.providers(0).base_url(), "https://api.anthropic.com");
  EXPECT_EQ(s.providers(1).base_url(), "https://api.z.ai/api/anthropic");
  EXPECT_EQ(s.providers(2).base_url(), "http://localhost:11434");
  EXPECT_EQ(s.providers(3).base_url(), "https://bedrock-runtime.eu-central-1.amazonaws.com");
}

TEST(ConfigLoaderTest, EveryServerKeyIsRead) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
server:
  listen: "[::1]:0"
  workers: 4
  max_body_bytes: 5000000000
  max_header_bytes: 8192
  timeouts:
    connect_ms: 1
    first_byte_ms: 2
    first_byte_non_stream_ms: 3
    idle_ms: 4
    total_ms: 5
    request_header_ms: 6
    request_body_ms: 7
    keepalive_ms: 8
    drain_ms: 9
    upstream_idle_pool_ms: 10
  auth:
    api_key: proxy-key
    allow_subscription: true
    allow_bearer: True
    bearer_secret: bearer-key
logging:
  level: debug
  format: json
providers: [{name: a, type: anthropic}]
)");
  EXPECT_EQ(s.server().listen(), "[::1]:0");
  EXPECT_EQ(s.server().workers(), 4u);
  EXPECT_EQ(s.server().max_body_bytes(), 5000000000u);
  EXPECT_EQ(s.server().max_header_bytes(), 8192u);
  const auto& t = s.server().timeouts();
  EXPECT_EQ(t.connect_ms(), 1u);
  EXPECT_EQ(t.first_byte_ms(), 2u);
  EXPECT_EQ(t.first_byte_non_stream_ms(), 3u);
  EXPECT_EQ(t.idle_ms(), 4u);
  EXPECT_EQ(t.total_ms(), 5u);
  EXPECT_EQ(t.request_header_ms(), 6u);
  EXPECT_EQ(t.request_body_ms(), 7u);
  EXPECT_EQ(t.keepalive_ms(), 8u);
  EXPECT_EQ(t.drain_ms(), 9u);
  EXPECT_EQ(t.upstream_idle_pool_ms(), 10u);
  EXPECT_EQ(s.server().auth().api_key(), "proxy-key");
  EXPECT_TRUE(s.server().auth().allow_subscription());
  EXPECT_TRUE(s.server().auth().allow_bearer());
  EXPECT_EQ(s.server().auth().bearer_secret(), "bearer-key");
  EXPECT_EQ(s.logging().level(), "debug");
  EXPECT_EQ(s.logging().format(), "json");
}

TEST(ConfigLoaderTest, PartialTimeoutsKeepOtherDefaults) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
server: {timeouts: {idle_ms: 7}}
providers: [{name: a, type: anthropic}]
)");
  EXPECT_EQ(s.server().timeouts().idle_ms(), 7u);
  EXPECT_EQ(s.server().timeouts().connect_ms(), 5000u);
  EXPECT_EQ(s.server().timeouts().drain_ms(), 30000u);
}

TEST(ConfigLoaderTest, ProviderAndKeysCompileToSnapshot) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
providers:
  - name: pool
    type: anthropic
    enabled: false
    base_url: "https://gateway.example.com/anthropic/"
    models: [claude-sonnet-4-5, claude-opus-4-5]
    keys:
      - key: "sk-one"
        rpm_limit: 60
        tpm_limit: 100000
        itpm_limit: 80000
        otpm_limit: 20000
        weight: 3
      - key: "sk-two"
        enabled: false
        weight: 5
    model_mapping:
      "claude-sonnet-4-5": "sonnet-internal"
      "claude-haiku-*": "haiku-internal"
      "a-first": "x"
  - {name: on, type: ollama}
)");
  ASSERT_EQ(s.providers_size(), 2);
  const auto& p = s.providers(0);
  EXPECT_EQ(p.name(), "pool");
  EXPECT_FALSE(p.enabled());
  EXPECT_EQ(p.base_url(), "https://gateway.example.com/anthropic");
  EXPECT_THAT(p.models(), ElementsAre("claude-sonnet-4-5", "claude-opus-4-5"));
  ASSERT_EQ(p.keys_size(), 2);
  const auto& k0 = p.keys(0);
  EXPECT_EQ(k0.secret(), "sk-one");
  EXPECT_EQ(k0.fingerprint(), ccrelay::common::FingerprintOf("sk-one"));
  EXPECT_EQ(k0.fingerprint().size(), 8u);
  EXPECT_EQ(k0.id(), "pool/" + ccrelay::common::FingerprintOf("sk-one"));
  EXPECT_EQ(k0.rpm_limit(), 60u);
  EXPECT_EQ(k0.tpm_limit(), 100000u);
  EXPECT_EQ(k0.itpm_limit(), 80000u);
  EXPECT_EQ(k0.otpm_limit(), 20000u);
  EXPECT_EQ(k0.weight(), 3u);
  EXPECT_TRUE(k0.enabled());
  const auto& k1 = p.keys(1);
  EXPECT_EQ(k1.id(), "pool/" + ccrelay::common::FingerprintOf("sk-two"));
  EXPECT_EQ(k1.rpm_limit(), 0u);
  EXPECT_EQ(k1.tpm_limit(), 0u);
  EXPECT_EQ(k1.itpm_limit(), 0u);
  EXPECT_EQ(k1.otpm_limit(), 0u);
  EXPECT_FALSE(k1.enabled());
  // Provider weight 0/absent = sum of the weights of its ENABLED keys.
  EXPECT_EQ(p.weight(), 3u);
  // Mapping order is file order, not sorted.
  ASSERT_EQ(p.model_mapping_size(), 3);
  EXPECT_EQ(p.model_mapping(0).from(), "claude-sonnet-4-5");
  EXPECT_EQ(p.model_mapping(0).to(), "sonnet-internal");
  EXPECT_EQ(p.model_mapping(1).from(), "claude-haiku-*");
  EXPECT_EQ(p.model_mapping(1).to(), "haiku-internal");
  EXPECT_EQ(p.model_mapping(2).from(), "a-first");
  // A provider named like a YAML 1.1 boolean ("on") stays a string.
  EXPECT_EQ(s.providers(1).name(), "on");
}

TEST(ConfigLoaderTest, ProviderWeight) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
providers:
  - {name: explicit, type: anthropic, weight: 7, keys: [{key: a, weight: 2}]}
  - {name: zero, type: anthropic, weight: 0, keys: [{key: a, weight: 2}, {key: b}]}
  - {name: nokeys, type: anthropic}
  - {name: alldisabled, type: anthropic, keys: [{key: a, enabled: false}]}
)");
  ASSERT_EQ(s.providers_size(), 4);
  EXPECT_EQ(s.providers(0).weight(), 7u);
  EXPECT_EQ(s.providers(1).weight(), 3u);
  EXPECT_EQ(s.providers(2).weight(), 1u);
  EXPECT_EQ(s.providers(3).weight(), 1u);
}

TEST(ConfigLoaderTest, SameKeyInTwoProvidersIsFineAndIdsDiffer) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
providers:
  - {name: a, type: anthropic, keys: [{key: shared}]}
  - {name: b, type: anthropic, keys: [{key: shared}]}
)");
  EXPECT_NE(s.providers(0).keys(0).id(), s.providers(1).keys(0).id());
  EXPECT_EQ(s.providers(0).keys(0).fingerprint(), s.providers(1).keys(0).fingerprint());
}

TEST(ConfigLoaderTest, EnvExpandedInValuesOfEveryType) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
server:
  listen: "${HOST:-127.0.0.1}:${PORT}"
  workers: ${WORKERS:-2}
  auth: {api_key: "${PROXY_KEY}", allow_bearer: "${BEARER:-false}"}
providers:
  - name: ${NAME}
    type: anthropic
    keys: [{key: "${ANTHROPIC_API_KEY}", rpm_limit: "${RPM}"}]
    model_mapping: {"${NOT_EXPANDED}": "${TO}"}
routing: {strategy: "${STRATEGY:-round-robin}"}
)",
                                          FakeEnv({{"PORT", "9999"},
                                                   {"PROXY_KEY", "pk"},
                                                   {"NAME", "main"},
                                                   {"ANTHROPIC_API_KEY", "sk-env"},
                                                   {"RPM", "42"},
                                                   {"TO", "target"},
                                                   {"BEARER", ""}}));
  EXPECT_EQ(s.server().listen(), "127.0.0.1:9999");
  EXPECT_EQ(s.server().workers(), 2u);
  EXPECT_EQ(s.server().auth().api_key(), "pk");
  EXPECT_FALSE(s.server().auth().allow_bearer());
  EXPECT_EQ(s.providers(0).name(), "main");
  EXPECT_EQ(s.providers(0).keys(0).secret(), "sk-env");
  EXPECT_EQ(s.providers(0).keys(0).id(), "main/" + ccrelay::common::FingerprintOf("sk-env"));
  EXPECT_EQ(s.providers(0).keys(0).rpm_limit(), 42u);
  // Keys (here a mapping key) are never expanded; values are.
  EXPECT_EQ(s.providers(0).model_mapping(0).from(), "${NOT_EXPANDED}");
  EXPECT_EQ(s.providers(0).model_mapping(0).to(), "target");
  EXPECT_EQ(s.routing().strategy(), "round-robin");
}

TEST(ConfigLoaderTest, CommentsAreNotExpanded) {
  // An unset variable in a comment must not be an error.
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
# key: ${UNSET_IN_COMMENT}
providers:
  - name: a   # ${ALSO_UNSET}
    type: anthropic
)");
  EXPECT_EQ(s.providers(0).name(), "a");
}

TEST(ConfigLoaderTest, DollarEscapes) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
providers:
  - name: a
    type: anthropic
    keys: [{key: "pa$$word"}, {key: "$literal"}, {key: "$${X}"}]
)");
  EXPECT_EQ(s.providers(0).keys(0).secret(), "pa$word");
  EXPECT_EQ(s.providers(0).keys(1).secret(), "$literal");
  EXPECT_EQ(s.providers(0).keys(2).secret(), "${X}");
}

TEST(ConfigLoaderTest, RoutingStrategies) {
  for (const auto& [written, stored] : std::map<std::string, std::string>{
           {"shuffle", "shuffle"}, {"simple-shuffle", "shuffle"}, {"round-robin", "round-robin"}}) {
    ccrelay::v1::RoutingSnapshot s =
        LoadOk("providers: [{name: a, type: anthropic}]\nrouting: {strategy: " + written + "}\n");
    EXPECT_EQ(s.routing().strategy(), stored) << written;
  }
}

TEST(ConfigLoaderTest, FailoverRouting) {
  ccrelay::v1::RoutingSnapshot s = LoadOk(R"(
providers:
  - {name: anthropic, type: anthropic}
  - {name: zai, type: zai, keys: [{key: z}]}
  - {name: ollama, type: ollama, enabled: false}
routing:
  strategy: failover
  failover:
    primary: anthropic
    fallbacks: [zai, ollama]
  max_attempts: 10
)");
  EXPECT_EQ(s.routing().strategy(), "failover");
  EXPECT_EQ(s.routing().failover_primary(), "anthropic");
  EXPECT_THAT(s.routing().failover_fallbacks(), ElementsAre("zai", "ollama"));
  EXPECT_EQ(s.routing().max_attempts(), 10u);
}

TEST(ConfigLoaderTest, PortZeroAndIpv6Listen) {
  EXPECT_EQ(LoadOk("server: {listen: \"127.0.0.1:0\"}\nproviders: [{name: a, type: anthropic}]")
                .server()
                .listen(),
            "127.0.0.1:0");
  EXPECT_EQ(LoadOk("server: {listen: \"[::1]:8787\"}\nproviders: [{name: a, type: anthropic}]")
                .server()
                .listen(),
            "[::1]:8787");
}

TEST(ConfigLoaderTest, ExampleYamlValidatesWithNoEnvironment) {
  LoadResult r = LoadConfigFile(CCR_SOURCE_DIR "/example.yaml", FakeEnv());
  ASSERT_TRUE(r.ok()) << Errors(r);
  const ccrelay::v1::RoutingSnapshot& s = *r.snapshot;
  EXPECT_EQ(s.source(), CCR_SOURCE_DIR "/example.yaml");
  ExpectDefaultServerLoggingRouting([&] {
    // example.yaml documents failover routing; the rest must equal the defaults.
    ccrelay::v1::RoutingSnapshot copy = s;
    copy.mutable_routing()->set_strategy("shuffle");
    copy.mutable_routing()->clear_failover_primary();
    copy.mutable_routing()->clear_failover_fallbacks();
    return copy;
  }());
  ASSERT_EQ(s.providers_size(), 6);

  const auto& anthropic = s.providers(0);
  EXPECT_EQ(anthropic.name(), "anthropic");
  EXPECT_EQ(anthropic.type(), "anthropic");
  EXPECT_TRUE(anthropic.enabled());
  EXPECT_EQ(anthropic.base_url(), "https://api.anthropic.com");
  ASSERT_EQ(anthropic.keys_size(), 2);
  EXPECT_EQ(anthropic.keys(0).secret(), "sk-ant-placeholder-key-1");
  EXPECT_EQ(anthropic.keys(1).secret(), "sk-ant-placeholder-key-2");
  EXPECT_EQ(anthropic.keys(0).rpm_limit(), 50u);
  EXPECT_EQ(anthropic.keys(1).weight(), 2u);
  EXPECT_EQ(anthropic.weight(), 3u);

  const auto& zai = s.providers(1);
  EXPECT_EQ(zai.name(), "zai");
  EXPECT_EQ(zai.type(), "zai");
  EXPECT_EQ(zai.base_url(), "https://api.z.ai/api/anthropic");
  ASSERT_EQ(zai.keys_size(), 1);
  ASSERT_GE(zai.model_mapping_size(), 2);
  EXPECT_EQ(zai.model_mapping(0).from(), "claude-sonnet-4-5");
  EXPECT_EQ(zai.model_mapping(0).to(), "GLM-4.7");

  const auto& bedrock = s.providers(2);
  EXPECT_EQ(bedrock.type(), "bedrock");
  EXPECT_FALSE(bedrock.enabled());
  EXPECT_EQ(bedrock.aws_region(), "us-east-1");
  EXPECT_EQ(bedrock.base_url(), "https://bedrock-runtime.us-east-1.amazonaws.com");
  ASSERT_EQ(bedrock.keys_size(), 1);
  EXPECT_EQ(bedrock.keys(0).secret(), "bedrock-placeholder-key");
  EXPECT_GE(bedrock.model_mapping_size(), 4);

  const auto& vertex = s.providers(3);
  EXPECT_EQ(vertex.type(), "vertex");
  EXPECT_FALSE(vertex.enabled());
  EXPECT_EQ(vertex.gcp_project_id(), "my-project");
  EXPECT_EQ(vertex.gcp_region(), "global");
  EXPECT_EQ(vertex.base_url(), "https://aiplatform.googleapis.com/v1");
  EXPECT_THAT(vertex.keys(), IsEmpty());

  const auto& azure = s.providers(4);
  EXPECT_EQ(azure.type(), "azure");
  EXPECT_FALSE(azure.enabled());
  EXPECT_EQ(azure.base_url(), "https://my-foundry-resource.services.ai.azure.com/anthropic");
  ASSERT_EQ(azure.keys_size(), 1);
  EXPECT_EQ(azure.keys(0).secret(), "azure-placeholder-key");

  const auto& ollama = s.providers(5);
  EXPECT_EQ(ollama.name(), "ollama");
  EXPECT_EQ(ollama.type(), "ollama");
  EXPECT_EQ(ollama.base_url(), "http://localhost:11434");
  EXPECT_THAT(ollama.keys(), IsEmpty());

  EXPECT_EQ(s.routing().strategy(), "failover");
  EXPECT_EQ(s.routing().failover_primary(), "anthropic");
  EXPECT_THAT(s.routing().failover_fallbacks(), ElementsAre("zai", "ollama"));
}

TEST(ConfigLoaderTest, ExampleYamlUsesEnvironmentWhenSet) {
  LoadResult r = LoadConfigFile(CCR_SOURCE_DIR "/example.yaml",
                                FakeEnv({{"ANTHROPIC_API_KEY_1", "sk-real-1"},
                                         {"ZAI_API_KEY", "zai-real"},
                                         {"CC_RELAY_LISTEN", "0.0.0.0:9000"}}));
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_EQ(r.snapshot->providers(0).keys(0).secret(), "sk-real-1");
  EXPECT_EQ(r.snapshot->providers(1).keys(0).secret(), "zai-real");
  EXPECT_EQ(r.snapshot->server().listen(), "0.0.0.0:9000");
}

TEST(ConfigLoaderTest, ExampleYamlDocumentsEveryKey) {
  std::ifstream in(CCR_SOURCE_DIR "/example.yaml");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* key : {"listen:",
                          "workers:",
                          "max_body_bytes:",
                          "max_header_bytes:",
                          "timeouts:",
                          "connect_ms:",
                          "first_byte_ms:",
                          "first_byte_non_stream_ms:",
                          "idle_ms:",
                          "total_ms:",
                          "request_header_ms:",
                          "request_body_ms:",
                          "keepalive_ms:",
                          "drain_ms:",
                          "upstream_idle_pool_ms:",
                          "auth:",
                          "api_key:",
                          "allow_subscription:",
                          "allow_bearer:",
                          "bearer_secret:",
                          "logging:",
                          "level:",
                          "format:",
                          "providers:",
                          "name:",
                          "type:",
                          "enabled:",
                          "base_url:",
                          "ca_file:",
                          "weight:",
                          "models:",
                          "keys:",
                          "key:",
                          "rpm_limit:",
                          "tpm_limit:",
                          "itpm_limit:",
                          "otpm_limit:",
                          "model_mapping:",
                          "pricing:",
                          "background_models:",
                          "rules:",
                          "match:",
                          "long_context:",
                          "fallback:",
                          "aws_region:",
                          "aws_profile:",
                          "aws_sts_endpoint",
                          "aws_imds_endpoint",
                          "aws_access_key_id:",
                          "aws_secret_access_key:",
                          "aws_session_token:",
                          "gcp_project_id:",
                          "gcp_region:",
                          "gcp_credentials_file:",
                          "gcp_token_endpoint:",
                          "gcp_metadata_endpoint:",
                          "azure_resource_name:",
                          "azure_auth:",
                          "azure_tenant_id:",
                          "azure_client_id:",
                          "azure_client_secret:",
                          "azure_federated_token_file:",
                          "azure_authority_host:",
                          "azure_imds_endpoint:",
                          "azure_scope:",
                          "betas:",
                          "allow:",
                          "deny:",
                          "rename:",
                          "input_per_mtok:",
                          "output_per_mtok:",
                          "cache_read_per_mtok:",
                          "cache_write_per_mtok:",
                          "metrics:",
                          "routing:",
                          "strategy:",
                          "failover:",
                          "primary:",
                          "fallbacks:",
                          "max_attempts:"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key;
  }
}

TEST(ConfigLoaderTest, BuiltinDefaultSnapshot) {
  ccrelay::v1::RoutingSnapshot s = BuiltinDefaultSnapshot();
  ExpectDefaultServerLoggingRouting(s);
  EXPECT_EQ(s.source(), "built-in default");
  ASSERT_EQ(s.providers_size(), 1);
  const auto& p = s.providers(0);
  EXPECT_EQ(p.name(), "anthropic");
  EXPECT_EQ(p.type(), "anthropic");
  EXPECT_TRUE(p.enabled());
  EXPECT_EQ(p.base_url(), "https://api.anthropic.com");
  EXPECT_THAT(p.keys(), IsEmpty());
  EXPECT_EQ(p.weight(), 1u);
}

TEST(ConfigLoaderTest, BuiltinDefaultEqualsMinimalConfig) {
  ccrelay::v1::RoutingSnapshot loaded = LoadOk(kMinimal);
  loaded.set_source("built-in default");
  // The one difference: a config file gets active health checks every minute; the built-in
  // default (no file, no keys) sends nothing upstream of its own.
  EXPECT_EQ(loaded.health().checks().interval_ms(), 60000u);
  EXPECT_EQ(BuiltinDefaultSnapshot().health().checks().interval_ms(), 0u);
  loaded.mutable_health()->mutable_checks()->set_interval_ms(0);
  EXPECT_EQ(loaded.SerializeAsString(), BuiltinDefaultSnapshot().SerializeAsString());
}

TEST(ConfigLoaderTest, DefaultConfigPath) {
  EXPECT_EQ(DefaultConfigPath(FakeEnv({{"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/home/u"}})),
            "/xdg/cc-relay/config.yaml");
  EXPECT_EQ(DefaultConfigPath(FakeEnv({{"XDG_CONFIG_HOME", ""}, {"HOME", "/home/u"}})),
            "/home/u/.config/cc-relay/config.yaml");
  EXPECT_EQ(DefaultConfigPath(FakeEnv({{"HOME", "/home/u"}})),
            "/home/u/.config/cc-relay/config.yaml");
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  EXPECT_EQ(DefaultConfigPath(FakeEnv({{"XDG_CONFIG_HOME", "rel"}, {"HOME", "/home/u"}})),
            "/home/u/.config/cc-relay/config.yaml");
  EXPECT_EQ(DefaultConfigPath(FakeEnv()), ".config/cc-relay/config.yaml");
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("ccr_config_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, std::string_view text) {
    const std::filesystem::path p = dir_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, LoadsFileAndRecordsSource) {
  const std::string path = Write("config.yaml", kMinimal);
  LoadResult r = LoadConfigFile(path, FakeEnv());
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_EQ(r.snapshot->source(), path);
}

TEST_F(ConfigFileTest, MissingFileIsOneErrorNamingThePath) {
  const std::string path = (dir_ / "nope.yaml").string();
  LoadResult r = LoadConfigFile(path, FakeEnv());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_FALSE(r.snapshot.has_value());
  EXPECT_EQ(r.errors[0].file, path);
  EXPECT_EQ(r.errors[0].ToString(), path + ": config file not found");
}

TEST_F(ConfigFileTest, DirectoryIsAnError) {
  LoadResult r = LoadConfigFile(dir_.string(), FakeEnv());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].message, ::testing::HasSubstr("directory"));
}

TEST_F(ConfigFileTest, EmptyFileNeedsAProvider) {
  const std::string path = Write("empty.yaml", "");
  LoadResult r = LoadConfigFile(path, FakeEnv());
  ASSERT_EQ(r.errors.size(), 1u) << Errors(r);
  EXPECT_EQ(r.errors[0].ToString(),
            path + ":1:1: providers: at least one enabled provider is required");
}

TEST_F(ConfigFileTest, RelativeCaFileIsResolvedAgainstTheConfigDirectory) {
  Write("certs/private.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  const std::string path = Write("config.yaml", R"(
providers:
  - name: private
    type: anthropic
    base_url: "https://llm.internal:8443"
    ca_file: certs/private.pem
)");
  LoadResult r = LoadConfigFile(path, FakeEnv());
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_EQ(r.snapshot->providers(0).ca_file(), (dir_ / "certs/private.pem").string());
  EXPECT_EQ(r.snapshot->providers(0).base_url(), "https://llm.internal:8443");
}

TEST_F(ConfigFileTest, AbsoluteCaFileAndErrors) {
  const std::string pem =
      Write("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  const std::string not_pem = Write("ca.txt", "hello\n");
  LoadResult ok = LoadConfigString(
      "providers: [{name: a, type: anthropic, ca_file: \"" + pem + "\"}]", "t.yaml", FakeEnv());
  ASSERT_TRUE(ok.ok()) << Errors(ok);
  EXPECT_EQ(ok.snapshot->providers(0).ca_file(), pem);

  LoadResult bad = LoadConfigString(
      "providers:\n  - name: a\n    type: anthropic\n    ca_file: \"" + not_pem +
          "\"\n  - {name: b, type: ollama, ca_file: " + (dir_ / "missing.pem").string() + "}\n",
      "t.yaml", FakeEnv());
  ASSERT_EQ(bad.errors.size(), 2u) << Errors(bad);
  EXPECT_EQ(bad.errors[0].ToString(),
            "t.yaml:4:14: providers[0].ca_file: contains no PEM "
            "certificate (-----BEGIN CERTIFICATE-----): \"" +
                not_pem + "\"");
  EXPECT_EQ(bad.errors[1].key_path, "providers[1].ca_file");
  EXPECT_THAT(bad.errors[1].message, ::testing::HasSubstr("file not found"));
}

}  // namespace
}  // namespace ccrelay::controlplane
