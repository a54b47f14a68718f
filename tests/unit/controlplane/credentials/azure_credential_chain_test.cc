#include "controlplane/credentials/azure_credential_chain.h"

#include <map>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::controlplane::azure {
namespace {

using ::ccrelay::testing::FakeClock;
using ::ccrelay::testing::FakeUpstream;
using ::ccrelay::testing::JsonScript;
using ::ccrelay::testing::RecordedRequest;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kTenant[] = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr char kSecret[] = "client~secret.value-1";
constexpr char kFederatedToken[] = "eyJhbGciOiJSUzI1NiJ9.federated.token";

std::string Message(const absl::Status& s) { return std::string(s.message()); }

// application/x-www-form-urlencoded → name → value (enough for what the chain sends).
std::map<std::string, std::string> ParseForm(std::string_view body) {
  const auto decode = [](std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i] == '+' ? ' ' : s[i]);
      }
    }
    return out;
  };
  std::map<std::string, std::string> out;
  while (!body.empty()) {
    const size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    const size_t eq = pair.find('=');
    out[decode(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1));
    body = amp == std::string_view::npos ? "" : body.substr(amp + 1);
  }
  return out;
}

class AzureCredentialChainTest : public ::testing::Test {
 protected:
  AzureCredentialChainTest() {
    entra_.SetHandler(JsonScript(
        200, R"({"token_type":"Bearer","expires_in":3599,"access_token":"entra-token"})"));
    imds_.SetHandler(JsonScript(
        200, R"({"access_token":"imds-token","expires_in":"3599","expires_on":"1800003600",)"
             R"("resource":"https://ai.azure.com","token_type":"Bearer"})"));
    options_.authority_host = entra_.base_url();
    options_.imds_endpoint = imds_.base_url();
  }

  absl::StatusOr<credentials::OAuthToken> Resolve() {
    AzureCredentialChainOptions options = options_;
    options.env = aws::MapEnvironment(env_);
    options.clock = &clock_;
    return AzureCredentialChain(std::move(options)).Resolve();
  }

  void SetClientSecretEnvironment() {
    env_["AZURE_TENANT_ID"] = std::string(kTenant);
    env_["AZURE_CLIENT_ID"] = "app-1";
    env_["AZURE_CLIENT_SECRET"] = std::string(kSecret);
  }

  std::string WriteFederatedToken(std::string_view contents) {
    return dir_.WriteFile("federated-token", contents);
  }

  RecordedRequest OnlyEntraRequest() const {
    EXPECT_EQ(entra_.request_count(), 1u);
    return entra_.requests().at(0);
  }

  FakeUpstream entra_;
  FakeUpstream imds_;
  FakeClock clock_;
  ::ccrelay::testing::TempDir dir_;
  std::map<std::string, std::string> env_;
  AzureCredentialChainOptions options_;
};

TEST_F(AzureCredentialChainTest, ClientSecretFromTheEnvironment) {
  SetClientSecretEnvironment();
  auto token = Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token.Reveal(), "entra-token");
  EXPECT_EQ(token->source, "client secret (app app-1)");
  EXPECT_EQ(token->expires_unix_ms, FakeClock::kStartUnixMs + 3599 * 1000);
  const RecordedRequest r = OnlyEntraRequest();
  EXPECT_EQ(r.target, "/" + std::string(kTenant) + "/oauth2/v2.0/token");
  const auto form = ParseForm(r.body);
  EXPECT_EQ(form.at("grant_type"), "client_credentials");
  EXPECT_EQ(form.at("client_id"), "app-1");
  EXPECT_EQ(form.at("client_secret"), kSecret);
  EXPECT_EQ(form.at("scope"), "https://ai.azure.com/.default");
  EXPECT_EQ(form.count("client_assertion"), 0u);
  EXPECT_EQ(imds_.request_count(), 0u);
}

TEST_F(AzureCredentialChainTest, OptionsWinOverTheEnvironment) {
  SetClientSecretEnvironment();
  options_.tenant_id = "contoso.onmicrosoft.com";
  options_.client_id = "app-from-config";
  options_.client_secret = common::Secret("secret-from-config");
  options_.scope = "https://cognitiveservices.azure.com/.default";
  auto token = Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, "client secret (app app-from-config)");
  const RecordedRequest r = OnlyEntraRequest();
  EXPECT_EQ(r.target, "/contoso.onmicrosoft.com/oauth2/v2.0/token");
  const auto form = ParseForm(r.body);
  EXPECT_EQ(form.at("client_secret"), "secret-from-config");
  EXPECT_EQ(form.at("scope"), "https://cognitiveservices.azure.com/.default");
}

TEST_F(AzureCredentialChainTest, AuthorityHostFromTheEnvironment) {
  SetClientSecretEnvironment();
  options_.authority_host.clear();
  env_["AZURE_AUTHORITY_HOST"] = entra_.base_url() + "/";
  ASSERT_TRUE(Resolve().ok());
  EXPECT_EQ(entra_.request_count(), 1u);

  env_["AZURE_AUTHORITY_HOST"] = "http://login.example.com";
  auto refused = Resolve();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(refused.status()),
              AllOf(HasSubstr("Azure credentials from client secret (app app-1)"),
                    HasSubstr("AZURE_AUTHORITY_HOST"), HasSubstr("https://")));
}

TEST_F(AzureCredentialChainTest, WorkloadIdentityReadsTheTokenFileAtEveryCall) {
  env_["AZURE_TENANT_ID"] = std::string(kTenant);
  env_["AZURE_CLIENT_ID"] = "app-2";
  env_["AZURE_FEDERATED_TOKEN_FILE"] = WriteFederatedToken(std::string(kFederatedToken) + "\n");
  auto token = Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, "workload identity (app app-2)");
  WriteFederatedToken("  rotated.federated.token \n");
  ASSERT_TRUE(Resolve().ok());
  const auto requests = entra_.requests();
  ASSERT_EQ(requests.size(), 2u);
  auto form = ParseForm(requests[0].body);
  EXPECT_EQ(form.at("grant_type"), "client_credentials");
  EXPECT_EQ(form.at("client_id"), "app-2");
  EXPECT_EQ(form.at("scope"), "https://ai.azure.com/.default");
  EXPECT_EQ(form.at("client_assertion_type"),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  EXPECT_EQ(form.at("client_assertion"), kFederatedToken);
  EXPECT_EQ(form.count("client_secret"), 0u);
  EXPECT_EQ(ParseForm(requests[1].body).at("client_assertion"), "rotated.federated.token");
}

TEST_F(AzureCredentialChainTest, AClientSecretComesBeforeWorkloadIdentity) {
  SetClientSecretEnvironment();
  env_["AZURE_FEDERATED_TOKEN_FILE"] = WriteFederatedToken(kFederatedToken);
  auto token = Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, "client secret (app app-1)");
}

TEST_F(AzureCredentialChainTest, ManagedIdentityForTheClientIdOfTheEnvironment) {
  env_["AZURE_CLIENT_ID"] = "user-assigned-1";
  auto token = Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token.Reveal(), "imds-token");
  EXPECT_EQ(token->source, "managed identity (client user-assigned-1)");
  EXPECT_EQ(token->expires_unix_ms, int64_t{1800003600} * 1000);
  ASSERT_EQ(imds_.request_count(), 1u);
  const RecordedRequest r = imds_.requests()[0];
  EXPECT_EQ(r.target,
            "/metadata/identity/oauth2/token?api-version=2018-02-01"
            "&resource=https%3A%2F%2Fai.azure.com&client_id=user-assigned-1");
  EXPECT_EQ(r.Header("metadata"), "true");
  EXPECT_EQ(entra_.request_count(), 0u);
}

TEST_F(AzureCredentialChainTest, SystemAssignedManagedIdentityForAnotherScope) {
  options_.scope = "https://cognitiveservices.azure.com/.default";
  auto token = Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, "managed identity");
  EXPECT_EQ(imds_.requests().at(0).target,
            "/metadata/identity/oauth2/token?api-version=2018-02-01"
            "&resource=https%3A%2F%2Fcognitiveservices.azure.com");
}

TEST_F(AzureCredentialChainTest, NothingSetUpListsEverySource) {
  options_.imds_endpoint = "http://127.0.0.1:" + std::to_string(::ccrelay::testing::UnusedPort());
  auto token = Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(token.status()),
              AllOf(HasSubstr("no Azure credentials found; tried: "),
                    HasSubstr("client secret (azure_client_secret / AZURE_CLIENT_SECRET not set)"),
                    HasSubstr("workload identity (azure_federated_token_file / "
                              "AZURE_FEDERATED_TOKEN_FILE not set)"),
                    HasSubstr("managed identity (IMDS unreachable (GET " + options_.imds_endpoint +
                              "/metadata/identity/oauth2/token")));
}

TEST_F(AzureCredentialChainTest, NoIdentityOnTheResourceIsNotFound) {
  imds_.SetHandler(
      JsonScript(400, R"({"error":"invalid_request","error_description":"Identity not found"})"));
  auto token = Resolve();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(token.status()), HasSubstr("Identity not found"));
}

TEST_F(AzureCredentialChainTest, AppServiceIdentityEndpointIsNamedAsUnsupported) {
  options_.imds_endpoint = "http://127.0.0.1:" + std::to_string(::ccrelay::testing::UnusedPort());
  env_["IDENTITY_ENDPOINT"] = "http://127.0.0.1:41741/msi/token";
  env_["IDENTITY_HEADER"] = "header-value";
  auto token = Resolve();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(token.status()),
              AllOf(HasSubstr("IDENTITY_ENDPOINT is set"), HasSubstr("not supported (IMDS only)"),
                    Not(HasSubstr("header-value"))));
}

TEST_F(AzureCredentialChainTest, ASecretWithoutTenantIsAnErrorNotAFallThrough) {
  env_["AZURE_CLIENT_ID"] = "app-1";
  env_["AZURE_CLIENT_SECRET"] = std::string(kSecret);
  auto token = Resolve();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Message(token.status()),
            "Azure credentials from client secret (app app-1): AZURE_CLIENT_SECRET is set, but "
            "azure_tenant_id / AZURE_TENANT_ID is not set");
  EXPECT_EQ(imds_.request_count(), 0u);
}

TEST_F(AzureCredentialChainTest, ACertificateIsUnsupported) {
  env_["AZURE_TENANT_ID"] = std::string(kTenant);
  env_["AZURE_CLIENT_ID"] = "app-1";
  env_["AZURE_CLIENT_CERTIFICATE_PATH"] = "/etc/app.pem";
  auto token = Resolve();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(Message(token.status()), HasSubstr("AZURE_CLIENT_CERTIFICATE_PATH"));
}

TEST_F(AzureCredentialChainTest, AnExplicitSourceNamesWhatItLacks) {
  options_.auth = "client_secret";
  auto token = Resolve();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Message(token.status()),
            "Azure credentials from client secret: azure_auth is client_secret, but "
            "azure_tenant_id / AZURE_TENANT_ID, azure_client_id / AZURE_CLIENT_ID and "
            "azure_client_secret / AZURE_CLIENT_SECRET are not set");

  options_.auth = "workload_identity";
  env_["AZURE_CLIENT_ID"] = "app-2";
  token = Resolve();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Message(token.status()),
            "Azure credentials from workload identity (app app-2): azure_auth is "
            "workload_identity, but azure_tenant_id / AZURE_TENANT_ID and "
            "azure_federated_token_file / AZURE_FEDERATED_TOKEN_FILE are not set");
  EXPECT_EQ(entra_.request_count() + imds_.request_count(), 0u);
}

TEST_F(AzureCredentialChainTest, AnExplicitSourceIgnoresTheOthers) {
  SetClientSecretEnvironment();
  env_["AZURE_FEDERATED_TOKEN_FILE"] = WriteFederatedToken(kFederatedToken);
  options_.auth = "workload_identity";
  auto token = Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, "workload identity (app app-1)");
  EXPECT_EQ(ParseForm(OnlyEntraRequest().body).count("client_secret"), 0u);

  options_.auth = "managed_identity";
  token = Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, "managed identity (client app-1)");
  EXPECT_EQ(entra_.request_count(), 1u);

  options_.imds_endpoint = "http://127.0.0.1:" + std::to_string(::ccrelay::testing::UnusedPort());
  token = Resolve();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(
      Message(token.status()),
      HasSubstr("Azure credentials from managed identity (client app-1): IMDS unreachable"));
}

TEST_F(AzureCredentialChainTest, UnknownAuthOrScopeIsInvalid) {
  options_.auth = "certificate";
  EXPECT_EQ(Resolve().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(Resolve().status()), HasSubstr("azure_auth \"certificate\""));
  options_.auth.clear();
  options_.scope = "https://a/.default https://b/.default";
  EXPECT_EQ(Resolve().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(entra_.request_count() + imds_.request_count(), 0u);
}

TEST_F(AzureCredentialChainTest, ATenantIdThatIsNoTenantIdNeverReachesTheUrl) {
  SetClientSecretEnvironment();
  for (const std::string bad : {"../../evil", "tenant/x", "t?x=1", "t x"}) {
    env_["AZURE_TENANT_ID"] = bad;
    auto token = Resolve();
    EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(token.status()), HasSubstr("AZURE_TENANT_ID")) << bad;
  }
  options_.tenant_id = "a/b";
  EXPECT_THAT(Message(Resolve().status()), HasSubstr("azure_tenant_id \"a/b\""));
  EXPECT_EQ(entra_.request_count(), 0u);
}

TEST_F(AzureCredentialChainTest, AWrongSecretIsAClearErrorWithoutTheSecret) {
  SetClientSecretEnvironment();
  entra_.SetHandler(JsonScript(
      401, R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client )"
           R"(secret provided. Got client~secret.value-1.\r\nTrace ID: 0c1d"})"));
  auto token = Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied);
  const std::string m = Message(token.status());
  EXPECT_THAT(m, AllOf(HasSubstr("Azure credentials from client secret (app app-1): token "
                                 "endpoint " +
                                 entra_.base_url() + "/" + std::string(kTenant) +
                                 "/oauth2/v2.0/token: HTTP 401: invalid_client: AADSTS7000215"),
                       Not(HasSubstr(kSecret)), Not(HasSubstr("\n"))));
}

TEST_F(AzureCredentialChainTest, AnEchoedFederatedTokenIsRedacted) {
  env_["AZURE_TENANT_ID"] = std::string(kTenant);
  env_["AZURE_CLIENT_ID"] = "app-2";
  env_["AZURE_FEDERATED_TOKEN_FILE"] = WriteFederatedToken(kFederatedToken);
  entra_.SetHandler(JsonScript(
      400, std::string(R"({"error":"invalid_request","error_description":"AADSTS70021: )") +
               "No matching federated identity record found for presented assertion " +
               std::string(kFederatedToken) + "\"}"));
  auto token = Resolve();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(Message(token.status()),
              AllOf(HasSubstr("AADSTS70021"), Not(HasSubstr(kFederatedToken)),
                    HasSubstr(common::FingerprintOf(kFederatedToken))));
}

TEST_F(AzureCredentialChainTest, AnUnreadableTokenFileNamesThePath) {
  env_["AZURE_TENANT_ID"] = std::string(kTenant);
  env_["AZURE_CLIENT_ID"] = "app-2";
  env_["AZURE_FEDERATED_TOKEN_FILE"] = dir_.path() + "/missing-token";
  auto token = Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(Message(token.status()), AllOf(HasSubstr("workload identity (app app-2)"),
                                             HasSubstr("AZURE_FEDERATED_TOKEN_FILE"),
                                             HasSubstr(dir_.path() + "/missing-token")));
  EXPECT_EQ(entra_.request_count(), 0u);
}

TEST_F(AzureCredentialChainTest, AnEndpointDownIsUnavailableAndNamed) {
  SetClientSecretEnvironment();
  options_.authority_host = "http://127.0.0.1:" + std::to_string(::ccrelay::testing::UnusedPort());
  auto token = Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(
      Message(token.status()),
      AllOf(HasSubstr("Azure credentials from client secret (app app-1): POST " +
                      options_.authority_host + "/" + std::string(kTenant) + "/oauth2/v2.0/token"),
            Not(HasSubstr(kSecret))));
}

}  // namespace
}  // namespace ccrelay::controlplane::azure
