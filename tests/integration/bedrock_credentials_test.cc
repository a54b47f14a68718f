// A Bedrock provider without keys: the control plane resolves AWS credentials through the
// credential chain (environment, web identity through STS, EC2 instance metadata), refreshes
// them before they expire and sends them to the data plane in snapshots; requests keep
// succeeding across refreshes. Fakes: tests/fakes/fake_aws_metadata.py (IMDSv2, container
// endpoint, STS) and tests/fakes/fake_bedrock.py (checks every signature with botocore).
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_aws_metadata.h"
#include "tests/fakes/fake_bedrock_process.h"
#include "tests/fakes/relay_fixture.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

// The credentials fake_aws_metadata.py issues, in order (its n-th answer).
AwsIdentity Issued(int n) {
  char id[32];
  std::snprintf(id, sizeof(id), "ASIAFAKE%08d", n);
  return AwsIdentity{id, "fakeSecret/" + std::to_string(n) + "+wJalrXUtnFEMIK7MDENG",
                     "fakeSessionToken" + std::to_string(n) + "IQoJb3JpZ2luX2VjEJr"};
}

std::vector<AwsIdentity> IssuedUpTo(int n) {
  std::vector<AwsIdentity> out;
  for (int i = 1; i <= n; ++i) {
    out.push_back(Issued(i));
  }
  return out;
}

class BedrockCredentialsTest : public RelayTest {
 protected:
  // A keyless Bedrock provider on `fake`, with the chain's endpoints at `metadata_url`.
  RelayConfig ChainConfig(const FakeBedrock& fake, const std::string& metadata_url) {
    ProviderSpec p;
    p.name = "bedrock";
    p.type = "bedrock";
    p.base_url = fake.base_url();
    p.extra_yaml = "    aws_region: us-east-1\n";
    if (!metadata_url.empty()) {
      p.extra_yaml += "    aws_imds_endpoint: \"" + metadata_url + "\"\n";
      p.extra_yaml += "    aws_sts_endpoint: \"" + metadata_url + "\"\n";
    }
    p.models = {"claude-test-1"};
    p.model_mapping = {{"claude-test-1", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}};
    RelayConfig config;
    config.providers = {p};
    return config;
  }

  // The chain sees only what a test sets: nothing of this machine's AWS setup.
  void IsolateFromTheMachine() {
    relay_ = std::make_unique<RelayProcess>();
    for (const char* name :
         {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
          "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
          "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
          "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"}) {
      relay_->SetEnv(name, "");
    }
  }

  void Start(const RelayConfig& config) {
    const std::string yaml = config.ToYaml();
    ASSERT_TRUE(relay_->Start(yaml)) << relay_->error() << "\n" << yaml << "\n" << relay_->log();
  }

  // `cc-relayctl providers get NAME --output json` against this relay's control plane.
  nlohmann::json CtlProvider(const std::string& name) {
    const std::string needle = "control_plane_listening address=";
    EXPECT_TRUE(relay().WaitForLog(needle, milliseconds(2000)));
    const std::string log = relay().log();
    const size_t at = log.find(needle) + needle.size();
    const std::string address = log.substr(at, log.find_first_of(" \n", at) - at);
    const CommandResult r = RunCommand({CCR_RELAYCTL_BINARY, "--control-plane", address,
                                        "--output", "json", "providers", "get", name});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return ParseJson(r.out);
  }

  void ExpectNoSecretIn(const std::string& text, const std::vector<AwsIdentity>& ids) {
    for (const AwsIdentity& id : ids) {
      EXPECT_THAT(text, Not(HasSubstr(id.secret_access_key)));
      if (!id.session_token.empty()) {
        EXPECT_THAT(text, Not(HasSubstr(id.session_token)));
      }
    }
  }
};

TEST_F(BedrockCredentialsTest, TheEnvironmentsCredentialsSignRequests) {
  const AwsIdentity env{"AKIDFROMENVIRONMENT1", "secret-from-the-environment-1", ""};
  FakeBedrock fake({env}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  IsolateFromTheMachine();
  relay_->SetEnv("AWS_ACCESS_KEY_ID", env.access_key_id);
  relay_->SetEnv("AWS_SECRET_ACCESS_KEY", env.secret_access_key);
  relay_->SetEnv("AWS_EC2_METADATA_DISABLED", "true");
  ASSERT_NO_FATAL_FAILURE(Start(ChainConfig(fake, "")));
  const HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1", true));
  ASSERT_EQ(r.status, 200) << r.body << relay().log();
  const nlohmann::json q = fake.Requests().at(0);
  EXPECT_EQ(q["auth"]["access_key_id"], env.access_key_id);
  EXPECT_EQ(q["signature_verified"], true);
  EXPECT_TRUE(relay().WaitForLog("source=\"environment\"", milliseconds(1000))) << relay().log();
  ExpectNoSecretIn(relay().log(), {env});
}

TEST_F(BedrockCredentialsTest, WebIdentityGoesThroughStsLikeAnEksPod) {
  TempDir dir;
  const std::string token_file = dir.WriteFile("token", "eks-projected-token-1\n");
  FakeAwsMetadata metadata;
  ASSERT_TRUE(metadata.Start({"--token-file", token_file, "--role-arn",
                              "arn:aws:iam::123456789012:role/bedrock-user"}))
      << metadata.error();
  FakeBedrock fake(IssuedUpTo(5), {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  IsolateFromTheMachine();
  relay_->SetEnv("AWS_WEB_IDENTITY_TOKEN_FILE", token_file);
  relay_->SetEnv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/bedrock-user");
  ASSERT_NO_FATAL_FAILURE(Start(ChainConfig(fake, metadata.url())));
  const HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1"));
  ASSERT_EQ(r.status, 200) << r.body << relay().log();
  const nlohmann::json q = fake.Requests().at(0);
  EXPECT_EQ(q["auth"]["access_key_id"], Issued(1).access_key_id);
  EXPECT_EQ(q["auth"]["session_token_present"], true);
  EXPECT_EQ(metadata.Counters()["sts_calls"], 1);
  EXPECT_EQ(metadata.Counters()["last_role_arn"], "arn:aws:iam::123456789012:role/bedrock-user");
  // cc-relayctl shows where the credentials came from, by fingerprint.
  const nlohmann::json info = CtlProvider("bedrock");
  EXPECT_THAT(info.value("credentials", ""),
              HasSubstr("web identity, key " + common::FingerprintOf(Issued(1).access_key_id) +
                        ", expires in "))
      << info.dump();
  ExpectNoSecretIn(info.dump(), IssuedUpTo(5));
  ExpectNoSecretIn(relay().log(), IssuedUpTo(5));
  EXPECT_THAT(relay().log(), Not(HasSubstr("eks-projected-token-1")));
}

TEST_F(BedrockCredentialsTest, InstanceMetadataCredentialsAreRenewedWhileRequestsRun) {
  // Credentials that live 4 s: the control plane renews them at half their remaining life,
  // and every request in between is signed with credentials Bedrock still accepts.
  FakeAwsMetadata metadata;
  ASSERT_TRUE(metadata.Start({"--lifetime", "4"})) << metadata.error();
  FakeBedrock fake(IssuedUpTo(40), {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  IsolateFromTheMachine();
  ASSERT_NO_FATAL_FAILURE(Start(ChainConfig(fake, metadata.url())));
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(7);
  int requests = 0;
  while (std::chrono::steady_clock::now() < until) {
    const HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1", requests % 2 == 0));
    ASSERT_EQ(r.status, 200) << r.body << relay().log();
    ++requests;
    std::this_thread::sleep_for(milliseconds(100));
  }
  std::set<std::string> used;
  for (const nlohmann::json& q : fake.Requests()) {
    EXPECT_EQ(q["status"], 200) << q.dump();
    used.insert(q["auth"]["access_key_id"].get<std::string>());
  }
  EXPECT_GE(used.size(), 3u) << "credentials used: " << used.size() << " over " << requests
                             << " requests";
  EXPECT_GE(metadata.Counters()["imds_token_calls"].get<int>(), 3);
  ExpectNoSecretIn(relay().log(), IssuedUpTo(40));
}

TEST_F(BedrockCredentialsTest, ARefusedChainKeyGetsNewCredentialsAtOnceAndIsUsedAgain) {
  // Bedrock refuses the first credentials the metadata service hands out (a revoked session);
  // they would live an hour. The data plane takes the key out and reports it; the control plane
  // walks the chain again at once, and the new credentials bring the key back.
  FakeAwsMetadata metadata;
  ASSERT_TRUE(metadata.Start()) << metadata.error();
  std::vector<AwsIdentity> accepted = IssuedUpTo(10);
  accepted.erase(accepted.begin());
  FakeBedrock fake(accepted, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  IsolateFromTheMachine();
  ASSERT_NO_FATAL_FAILURE(Start(ChainConfig(fake, metadata.url())));
  const HttpResponse refused = Post("/v1/messages", MessageBody("claude-test-1"));
  EXPECT_EQ(refused.status, 403) << refused.body;
  ASSERT_TRUE(relay().WaitForLog("key_disabled", milliseconds(2000))) << relay().log();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  HttpResponse r;
  do {
    std::this_thread::sleep_for(milliseconds(200));
    r = Post("/v1/messages", MessageBody("claude-test-1"));
  } while (r.status != 200 && std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(r.status, 200) << r.body << relay().log();
  EXPECT_EQ(fake.Requests().back()["auth"]["access_key_id"], Issued(2).access_key_id);
  EXPECT_GE(metadata.Counters()["imds_credential_calls"].get<int>(), 2);
}

TEST_F(BedrockCredentialsTest, WithoutCredentialsTheClientIsToldWhyAndNothingIsSent) {
  FakeAwsMetadata metadata;
  ASSERT_TRUE(metadata.Start({"--imds-role", ""})) << metadata.error();  // no role: nothing
  FakeBedrock fake({}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  IsolateFromTheMachine();
  ASSERT_NO_FATAL_FAILURE(Start(ChainConfig(fake, metadata.url())));
  const HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1"));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(IsAnthropicError(r.body, "api_error")) << r.body;
  EXPECT_THAT(r.body, HasSubstr("no AWS credentials"));
  EXPECT_TRUE(fake.Requests().empty());
  const nlohmann::json info = CtlProvider("bedrock");
  EXPECT_EQ(info.value("health", ""), "unhealthy") << info.dump();
  EXPECT_THAT(info.value("credentials", ""), HasSubstr("none: ")) << info.dump();
}

}  // namespace
}  // namespace ccrelay::testing
