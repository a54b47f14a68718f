// The Azure Entra ID credential chain (controlplane/credentials/azure_credential_chain.h) against
// tests/fakes/fake_azure_auth.py, a fake Entra token endpoint and IMDS that check what they are
// sent: a client secret, a workload identity's federated token (re-read from its file), a
// managed identity with and without a client id; refusals, a server down, and no secret in any
// error.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controlplane/credentials/azure_credential_chain.h"
#include "dataplane/common/secret.h"
#include "tests/fakes/fake_azure_auth.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {
namespace {

using controlplane::azure::AzureCredentialChain;
using controlplane::azure::AzureCredentialChainOptions;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTenant[] = "0d4f2a51-7c1e-4b8a-9f3d-2e6b8c1a5f70";
constexpr char kSecretApp[] = "11111111-aaaa-4bbb-8ccc-000000000001";
constexpr char kSecret[] = "Qx8~fake.client-secret_value";
constexpr char kWorkloadApp[] = "22222222-aaaa-4bbb-8ccc-000000000002";
constexpr char kUserAssigned[] = "33333333-aaaa-4bbb-8ccc-000000000003";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class AzureCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_file_ = dir_.WriteFile("azure-identity-token", "federated-token-one\n");
    fake_ = std::make_unique<FakeAzureAuth>();
    ASSERT_TRUE(fake_->Start(Apps(), {true, {kUserAssigned}})) << fake_->error();
  }

  std::vector<FakeAzureApp> Apps() const {
    return {{kTenant, kSecretApp, kSecret, ""}, {kTenant, kWorkloadApp, "", token_file_}};
  }

  // Options that reach only the fake, whatever this machine's environment holds.
  AzureCredentialChainOptions Options(std::map<std::string, std::string> env = {}) const {
    AzureCredentialChainOptions o;
    o.env = controlplane::aws::MapEnvironment(std::move(env));
    o.authority_host = fake_->url();
    o.imds_endpoint = fake_->url();
    return o;
  }

  AzureCredentialChainOptions SecretOptions(std::string secret = kSecret) const {
    AzureCredentialChainOptions o = Options();
    o.tenant_id = kTenant;
    o.client_id = kSecretApp;
    o.client_secret = common::Secret(std::move(secret));
    return o;
  }

  static std::string Message(const absl::Status& s) { return std::string(s.message()); }

  TempDir dir_;
  std::string token_file_;
  std::unique_ptr<FakeAzureAuth> fake_;
};

TEST_F(AzureCredentialsTest, AClientSecretGetsATokenTheEndpointIssued) {
  const int64_t before = NowMs();
  auto token = AzureCredentialChain(SecretOptions()).Resolve();
  ASSERT_TRUE(token.ok()) << token.status() << fake_->log();
  EXPECT_EQ(token->source, std::string("client secret (app ") + kSecretApp + ")");
  const nlohmann::json issued = fake_->Tokens();
  const std::string value(token->access_token.Reveal());
  ASSERT_TRUE(issued.contains(value)) << issued.dump();
  EXPECT_EQ(issued[value]["grant"], "client_secret");
  EXPECT_EQ(issued[value]["client_id"], kSecretApp);
  EXPECT_EQ(issued[value]["scope"], "https://ai.azure.com/.default");
  EXPECT_GE(token->expires_unix_ms, before + 3600 * 1000);
  EXPECT_LE(token->expires_unix_ms, NowMs() + 3600 * 1000);

  const auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0]["route"], "token");
  EXPECT_EQ(requests[0]["tenant"], kTenant);
  EXPECT_EQ(requests[0]["grant_type"], "client_credentials");
  EXPECT_EQ(requests[0]["client_secret_fingerprint"], common::FingerprintOf(kSecret));
  EXPECT_EQ(requests[0]["content_type"], "application/x-www-form-urlencoded");
}

TEST_F(AzureCredentialsTest, WorkloadIdentityRereadsTheProjectedTokenFile) {
  // The environment AKS's workload identity webhook sets.
  AzureCredentialChainOptions options = Options({{"AZURE_TENANT_ID", kTenant},
                                                 {"AZURE_CLIENT_ID", kWorkloadApp},
                                                 {"AZURE_FEDERATED_TOKEN_FILE", token_file_}});
  AzureCredentialChain chain(std::move(options));
  auto first = chain.Resolve();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->source, std::string("workload identity (app ") + kWorkloadApp + ")");
  // Kubernetes rotates the token: the fake now accepts only the new one.
  dir_.WriteFile("azure-identity-token", "federated-token-two\n");
  auto second = chain.Resolve();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_NE(first->access_token.Reveal(), second->access_token.Reveal());
  const auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0]["client_assertion_fingerprint"],
            common::FingerprintOf("federated-token-one"));
  EXPECT_EQ(requests[1]["client_assertion_fingerprint"],
            common::FingerprintOf("federated-token-two"));
  EXPECT_EQ(requests[1]["client_assertion_type"],
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  EXPECT_EQ(fake_->Tokens()[std::string(second->access_token.Reveal())]["grant"],
            "workload_identity");
}

TEST_F(AzureCredentialsTest, AStaleFederatedTokenIsRefusedClearly) {
  AzureCredentialChainOptions options = Options();
  options.auth = "workload_identity";
  options.tenant_id = kTenant;
  options.client_id = kWorkloadApp;
  options.federated_token_file = dir_.WriteFile("other-token", "not-the-federated-token");
  auto token = AzureCredentialChain(std::move(options)).Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(Message(token.status()),
              AllOf(HasSubstr("workload identity"), HasSubstr("AADSTS70021"),
                    Not(HasSubstr("not-the-federated-token"))));
}

TEST_F(AzureCredentialsTest, SystemAssignedManagedIdentity) {
  auto token = AzureCredentialChain(Options()).Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, "managed identity");
  const auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0]["route"], "imds");
  EXPECT_EQ(requests[0]["metadata"], "true");
  EXPECT_EQ(requests[0]["api_version"], "2018-02-01");
  EXPECT_EQ(requests[0]["resource"], "https://ai.azure.com");
  EXPECT_TRUE(requests[0]["client_id"].is_null());
  const nlohmann::json issued = fake_->Tokens()[std::string(token->access_token.Reveal())];
  EXPECT_EQ(issued["grant"], "managed_identity");
  // IMDS's expires_on (whole seconds) is what the token's expiry says.
  EXPECT_EQ(token->expires_unix_ms, issued["expires_on"].get<int64_t>() * 1000);
}

TEST_F(AzureCredentialsTest, UserAssignedManagedIdentityByClientId) {
  auto token = AzureCredentialChain(Options({{"AZURE_CLIENT_ID", kUserAssigned}})).Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, std::string("managed identity (client ") + kUserAssigned + ")");
  EXPECT_EQ(fake_->Requests().at(0)["client_id"], kUserAssigned);

  // An identity the resource does not have: nothing found, and the message says why.
  auto missing = AzureCredentialChain(Options({{"AZURE_CLIENT_ID", "not-assigned"}})).Resolve();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()),
              AllOf(HasSubstr("no Azure credentials found"), HasSubstr("Identity not found"),
                    HasSubstr("not-assigned")));
}

TEST_F(AzureCredentialsTest, ImdsRefusesARequestWithoutTheMetadataHeader) {
  // The fake insists on the header, like IMDS ...
  const HttpResponse bare = Fetch(fake_->port(), "GET",
                                  "/metadata/identity/oauth2/token?api-version=2018-02-01"
                                  "&resource=https%3A%2F%2Fai.azure.com");
  EXPECT_EQ(bare.status, 400);
  EXPECT_THAT(bare.body, HasSubstr("Required metadata header not specified"));
  // ... and the chain gets its token, so the chain sends it.
  AzureCredentialChainOptions options = Options();
  options.auth = "managed_identity";
  auto token = AzureCredentialChain(std::move(options)).Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  const auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_TRUE(requests[0]["metadata"].is_null());
  EXPECT_EQ(requests[0]["status"], 400);
  EXPECT_EQ(requests[1]["metadata"], "true");
  EXPECT_EQ(requests[1]["status"], 200);
}

TEST_F(AzureCredentialsTest, AWrongSecretIsAClearErrorWithoutTheSecret) {
  auto token = AzureCredentialChain(SecretOptions("wrong-secret-value")).Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied);
  const std::string m = Message(token.status());
  EXPECT_THAT(m, AllOf(HasSubstr(std::string("Azure credentials from client secret (app ") +
                                 kSecretApp + "): token endpoint " + fake_->url() + "/" + kTenant +
                                 "/oauth2/v2.0/token: HTTP 401: invalid_client: "
                                 "AADSTS7000215: Invalid client secret provided"),
                       Not(HasSubstr("wrong-secret-value")), Not(HasSubstr(kSecret)),
                       Not(HasSubstr("\n"))));
}

TEST_F(AzureCredentialsTest, AnEchoedSecretIsRedacted) {
  ASSERT_TRUE(fake_->FailNext(400, 1, "echo=1&error=invalid_request"));
  auto token = AzureCredentialChain(SecretOptions()).Resolve();
  ASSERT_FALSE(token.ok());
  const std::string m = Message(token.status());
  EXPECT_THAT(m, AllOf(HasSubstr("HTTP 400: invalid_request"), Not(HasSubstr(kSecret)),
                       HasSubstr("<redacted:" + common::FingerprintOf(kSecret) + ">")));
  EXPECT_EQ(fake_->Requests().at(0)["echoed"], true);
}

TEST_F(AzureCredentialsTest, TheScopeMustBeTheOneTheResourceKnows) {
  AzureCredentialChainOptions options = SecretOptions();
  options.scope = "https://cognitiveservices.azure.com/.default";
  auto token = AzureCredentialChain(options).Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(Message(token.status()), HasSubstr("AADSTS500011"));
  ASSERT_TRUE(fake_->Set("scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default"));
  ASSERT_TRUE(AzureCredentialChain(options).Resolve().ok());
  AzureCredentialChainOptions imds = Options();
  imds.scope = options.scope;
  ASSERT_TRUE(AzureCredentialChain(std::move(imds)).Resolve().ok());
  EXPECT_EQ(fake_->Requests().back()["resource"], "https://cognitiveservices.azure.com");
}

TEST_F(AzureCredentialsTest, ServerTroubleIsUnavailableAndPasses) {
  ASSERT_TRUE(fake_->FailNext(503, 1));
  AzureCredentialChain chain(SecretOptions());
  auto failed = chain.Resolve();
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(failed.status()), HasSubstr("HTTP 503"));
  ASSERT_TRUE(chain.Resolve().ok());
  ASSERT_TRUE(fake_->Set("expires_in=5"));
  const int64_t before = NowMs();
  auto short_lived = chain.Resolve();
  ASSERT_TRUE(short_lived.ok()) << short_lived.status();
  EXPECT_GE(short_lived->expires_unix_ms, before + 5000);
  EXPECT_LE(short_lived->expires_unix_ms, NowMs() + 5000);
}

TEST_F(AzureCredentialsTest, AnEndpointDownIsAClearError) {
  AzureCredentialChain chain(SecretOptions());
  ASSERT_TRUE(chain.Resolve().ok());
  const std::string url = fake_->url();
  fake_.reset();  // the endpoint goes away
  auto token = chain.Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(
      Message(token.status()),
      AllOf(HasSubstr(std::string("Azure credentials from client secret (app ") + kSecretApp +
                      "): POST " + url + "/" + kTenant + "/oauth2/v2.0/token: connect"),
            Not(HasSubstr(kSecret))));

  // IMDS down: not an error but "nothing here", naming what was tried.
  AzureCredentialChainOptions imds;
  imds.env = controlplane::aws::MapEnvironment({});
  imds.imds_endpoint = url;
  auto none = AzureCredentialChain(std::move(imds)).Resolve();
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(none.status()),
              AllOf(HasSubstr("no Azure credentials found; tried: client secret"),
                    HasSubstr("managed identity (IMDS unreachable (GET " + url)));
}

}  // namespace
}  // namespace ccrelay::testing
