// What the management API shows: key states, sources, health, and never a secret.
#include "controlplane/management/provider_view.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "proto/stream.pb.h"

#include "controlplane/config/config_loader.h"
#include "controlplane/management/config_yaml.h"
#include "controlplane/snapshot/snapshot_builder.h"
#include "dataplane/common/secret.h"
#include "tests/fakes/fake_clock.h"

namespace ccrelay::controlplane {
namespace {

using common::FingerprintOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kConfig = R"(
server:
  auth:
    api_key: proxy-secret-123
providers:
  - name: anthropic
    type: anthropic
    keys:
      - key: sk-config-a
      - key: sk-config-b
        enabled: false
  - name: off
    type: anthropic
    enabled: false
  - name: br
    type: bedrock
    aws_region: eu-west-1
    keys:
      - aws_access_key_id: AKIDVIEWTEST
        aws_secret_access_key: aws-secret-view-test
        aws_session_token: aws-token-view-test
      - key: bedrock-api-key-view-test
)";

ccrelay::v1::RoutingSnapshot Load() {
  LoadResult r = LoadConfigString(kConfig, "t.yaml",
                                  [](std::string_view) { return std::optional<std::string>(); });
  EXPECT_TRUE(r.ok());
  return r.snapshot.value_or(ccrelay::v1::RoutingSnapshot());
}

class ProviderViewTest : public ::testing::Test {
 protected:
  ProviderViewTest() : stats_(clock_), config_(Load()) {
    RuntimeKey k;
    k.secret = "sk-runtime-c";
    k.fingerprint = FingerprintOf(k.secret);
    state_.providers["anthropic"].added_keys.push_back(k);
    effective_ = BuildEffectiveSnapshot(config_, state_);
  }

  std::vector<ccrelay::v1::ProviderInfo> View() {
    return BuildProviderInfos(ProviderViewInputs{effective_, config_, state_, stats_, draining_});
  }

  testing::FakeClock clock_;
  StatsAggregator stats_;
  ccrelay::v1::RoutingSnapshot config_;
  RuntimeState state_;
  ccrelay::v1::RoutingSnapshot effective_;
  std::vector<DrainingKey> draining_;
};

TEST_F(ProviderViewTest, KeysHaveSourceStateAndNoSecret) {
  std::vector<ccrelay::v1::ProviderInfo> v = View();
  ASSERT_EQ(v.size(), 3u);
  const auto& p = v[0];
  ASSERT_EQ(p.keys_size(), 3);
  EXPECT_EQ(p.keys(0).fingerprint(), FingerprintOf("sk-config-a"));
  EXPECT_EQ(p.keys(0).source(), "config");
  EXPECT_EQ(p.keys(0).state(), "active");
  EXPECT_EQ(p.keys(1).state(), "disabled");
  EXPECT_EQ(p.keys(2).source(), "runtime");
  EXPECT_EQ(p.health(), "degraded");  // one key disabled
  EXPECT_EQ(v[1].health(), "disabled");
  // Bedrock keys show as fingerprints: an IAM key as its access key id's.
  ASSERT_EQ(v[2].keys_size(), 2);
  EXPECT_EQ(v[2].keys(0).fingerprint(), FingerprintOf("AKIDVIEWTEST"));
  EXPECT_EQ(v[2].keys(1).fingerprint(), FingerprintOf("bedrock-api-key-view-test"));
  for (const auto& info : v) {
    const std::string wire = info.SerializeAsString();
    EXPECT_THAT(wire, Not(HasSubstr("sk-config")));
    EXPECT_THAT(wire, Not(HasSubstr("sk-runtime")));
    for (const char* secret : {"AKIDVIEWTEST", "aws-secret-view-test", "aws-token-view-test",
                               "bedrock-api-key-view-test"}) {
      EXPECT_THAT(wire, Not(HasSubstr(secret)));
    }
  }
}

TEST_F(ProviderViewTest, ObservedHealthAndDrainingKeysShow) {
  ccrelay::v1::HealthReport h;
  auto* o = h.add_observations();
  o->set_provider("anthropic");
  o->set_key_fingerprint(FingerprintOf("sk-config-a"));
  o->set_state("cooldown");
  o->set_reason("429 retry-after 12s");
  o->set_until_unix_ms(clock_.UnixMillis() + 12000);
  stats_.AddHealth("dp-1", h);
  draining_.push_back(DrainingKey{"anthropic", "0badf00d", "config", {}, 7, "rotated"});

  std::vector<ccrelay::v1::ProviderInfo> v = View();
  const auto& p = v[0];
  ASSERT_EQ(p.keys_size(), 4);
  EXPECT_EQ(p.keys(0).state(), "cooldown");
  EXPECT_THAT(p.keys(0).reason(), HasSubstr("429 retry-after 12s"));
  EXPECT_THAT(p.keys(0).reason(), HasSubstr("dp-1"));
  EXPECT_EQ(p.keys(3).fingerprint(), "0badf00d");
  EXPECT_EQ(p.keys(3).state(), "draining");
  EXPECT_EQ(p.health(), "degraded");
}

TEST_F(ProviderViewTest, AKeylessBedrockProviderShowsItsCredentialChain) {
  std::map<std::string, credentials::CredentialState> chains;
  credentials::CredentialState& ok = chains["br"];
  ok.credential.emplace();
  ccrelay::v1::AwsCredentials* aws = ok.credential->key.mutable_aws();
  aws->set_access_key_id("ASIACHAINVIEW");
  aws->set_secret_access_key("chain-secret-view");
  aws->set_session_token("chain-token-view");
  aws->set_source("web identity");
  ok.credential->key.set_fingerprint(FingerprintOf("ASIACHAINVIEW"));
  ok.credential->source = "web identity";
  ok.credential->expires_unix_ms = clock_.UnixMillis() + 43 * 60 * 1000 + 500;
  std::vector<ccrelay::v1::ProviderInfo> v = BuildProviderInfos(ProviderViewInputs{
      effective_, config_, state_, stats_, draining_, nullptr, &chains, clock_.UnixMillis()});
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[2].credentials(),
            "web identity, key " + FingerprintOf("ASIACHAINVIEW") + ", expires in 43 min");
  EXPECT_THAT(v[2].SerializeAsString(), Not(HasSubstr("chain-secret-view")));
  EXPECT_THAT(v[2].SerializeAsString(), Not(HasSubstr("chain-token-view")));
  EXPECT_TRUE(v[0].credentials().empty());

  // No credentials: the provider is unhealthy and says why.
  credentials::CredentialState none;
  none.last_error = "instance metadata: no role";
  none.consecutive_failures = 2;
  chains["br"] = none;
  v = BuildProviderInfos(ProviderViewInputs{effective_, config_, state_, stats_, draining_,
                                            nullptr, &chains, clock_.UnixMillis()});
  EXPECT_EQ(v[2].credentials(), "none: instance metadata: no role");
  EXPECT_EQ(v[2].health(), "unhealthy");
}

TEST_F(ProviderViewTest, AMintedTokenWhoseRefreshFailsShowsWhyAndHowLongItLasts) {
  // A provider with keys would not mint; only its credentials line and health matter here.
  std::map<std::string, credentials::CredentialState> minted;
  credentials::CredentialState& st = minted["br"];
  st.credential.emplace();
  st.credential->key.set_secret("ya29.minted-token-view");
  st.credential->key.set_oauth_token(true);
  st.credential->key.set_fingerprint(FingerprintOf("ya29.minted-token-view"));
  st.credential->source = "service account sa@p.iam.gserviceaccount.com";
  st.credential->expires_unix_ms = clock_.UnixMillis() + 52 * 60 * 1000;
  std::vector<ccrelay::v1::ProviderInfo> v = BuildProviderInfos(ProviderViewInputs{
      effective_, config_, state_, stats_, draining_, nullptr, &minted, clock_.UnixMillis()});
  EXPECT_EQ(v[2].credentials(), "service account sa@p.iam.gserviceaccount.com, token " +
                                    FingerprintOf("ya29.minted-token-view") +
                                    ", expires in 52 min");
  EXPECT_EQ(v[2].health(), "healthy");

  st.consecutive_failures = 3;
  st.failing_since_unix_ms = testing::FakeClock::kStartUnixMs;  // 2027-01-15T08:00:00Z
  st.last_error = "token endpoint https://oauth2.example/token: HTTP 503";
  clock_.Advance(std::chrono::minutes(40));
  v = BuildProviderInfos(ProviderViewInputs{effective_, config_, state_, stats_, draining_,
                                            nullptr, &minted, clock_.UnixMillis()});
  EXPECT_EQ(v[2].credentials(),
            "refresh failing since 2027-01-15T08:00:00Z (3 attempts): token endpoint "
            "https://oauth2.example/token: HTTP 503; service account "
            "sa@p.iam.gserviceaccount.com, token " +
                FingerprintOf("ya29.minted-token-view") + ", valid for 12 min");
  // The token still serves: degraded, not unhealthy.
  EXPECT_EQ(v[2].health(), "degraded");
  EXPECT_THAT(v[2].SerializeAsString(), Not(HasSubstr("ya29.minted-token-view")));
}

TEST_F(ProviderViewTest, ShowConfigYamlRedactsEverySecret) {
  const std::string yaml = RedactedConfigYaml(effective_, config_);
  EXPECT_THAT(yaml, Not(HasSubstr("sk-config")));
  EXPECT_THAT(yaml, Not(HasSubstr("sk-runtime")));
  EXPECT_THAT(yaml, Not(HasSubstr("proxy-secret-123")));
  for (const char* secret : {"AKIDVIEWTEST", "aws-secret-view-test", "aws-token-view-test",
                             "bedrock-api-key-view-test"}) {
    EXPECT_THAT(yaml, Not(HasSubstr(secret)));
  }
  EXPECT_THAT(yaml, HasSubstr("aws_access_key_id: <redacted fingerprint=" +
                              FingerprintOf("AKIDVIEWTEST") + ">"));
  EXPECT_THAT(yaml, HasSubstr("aws_region: eu-west-1"));
  EXPECT_THAT(yaml, HasSubstr(FingerprintOf("sk-config-a")));
  EXPECT_THAT(yaml, HasSubstr(FingerprintOf("proxy-secret-123")));
  EXPECT_THAT(yaml, HasSubstr("# runtime"));
  // It is YAML in the config file's layout.
  EXPECT_THAT(yaml, HasSubstr("providers:"));
  EXPECT_THAT(yaml, HasSubstr("name: anthropic"));
}

}  // namespace
}  // namespace ccrelay::controlplane
