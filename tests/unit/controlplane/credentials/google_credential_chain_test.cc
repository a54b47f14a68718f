#include "controlplane/credentials/google_credential_chain.h"

#include <chrono>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_gcp_auth.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/test_rsa_key.h"

namespace ccrelay::controlplane::gcp {
namespace {

using ::ccrelay::testing::FakeUpstream;
using ::ccrelay::testing::GcpAuthorizedUser;
using ::ccrelay::testing::GcpServiceAccount;
using ::ccrelay::testing::RecordedRequest;
using ::ccrelay::testing::Responder;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kEmail[] = "relay@test-project.iam.gserviceaccount.com";
constexpr char kToken[] = "ya29.unit-test-access-token-0123456789";
constexpr char kClientSecret[] = "fake-client-secret-for-tests";
constexpr char kRefreshToken[] = "1//0gRefreshTokenUnitTest+/=xyz";
constexpr char kMetadataPath[] =
    "/computeMetadata/v1/instance/service-accounts/default/token?scopes="
    "https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform";

const ::ccrelay::testing::TestRsaKey& Key() { return ::ccrelay::testing::SharedTestRsaKey(0); }

// The percent-decoded value of `name` in an application/x-www-form-urlencoded body.
std::string FormField(const std::string& body, const std::string& name) {
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) {
      end = body.size();
    }
    const std::string pair = body.substr(start, end - start);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name && eq != std::string::npos) {
      std::string out;
      for (size_t i = eq + 1; i < pair.size(); ++i) {
        if (pair[i] == '%' && i + 2 < pair.size()) {
          out.push_back(static_cast<char>(std::stoi(pair.substr(i + 1, 2), nullptr, 16)));
          i += 2;
        } else {
          out.push_back(pair[i] == '+' ? ' ' : pair[i]);
        }
      }
      return out;
    }
    start = end + 1;
  }
  return "";
}

nlohmann::json JwtClaims(const std::string& jwt) {
  const size_t a = jwt.find('.');
  const size_t b = jwt.find('.', a + 1);
  std::string decoded;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(jwt.substr(a + 1, b - a - 1), &decoded));
  return nlohmann::json::parse(decoded, nullptr, /*allow_exceptions=*/false);
}

std::string TokenJson(int expires_in = 3599) {
  return nlohmann::json(
             {{"access_token", kToken}, {"expires_in", expires_in}, {"token_type", "Bearer"}})
      .dump();
}

// A handler that answers every request with this.
::ccrelay::testing::Handler Answering(int status, ::ccrelay::testing::Headers headers,
                                      std::string body) {
  return [status, headers = std::move(headers), body = std::move(body)](
             const RecordedRequest&, Responder& r) { r.Respond(status, headers, body); };
}

class GoogleCredentialChainTest : public ::testing::Test {
 protected:
  GoogleCredentialChainTest() {
    env_["HOME"] = dir_.path();
    // Never reach for a real metadata server from a unit test.
    options_.metadata_endpoint =
        "http://127.0.0.1:" + std::to_string(::ccrelay::testing::UnusedPort());
    token_endpoint_.SetHandler(Answering(200, {{"content-type", "application/json"}}, TokenJson()));
    metadata_.SetHandler(
        Answering(200, {{"content-type", "application/json"}, {"Metadata-Flavor", "Google"}},
                  TokenJson(1800)));
  }

  GoogleCredentialChain Chain() const {
    GoogleCredentialChainOptions options = options_;
    options.env = aws::MapEnvironment(env_);
    options.clock = &clock_;
    return GoogleCredentialChain(std::move(options));
  }

  std::string TokenUrl() const { return token_endpoint_.base_url() + "/token"; }

  // A service-account file (under the temp dir) whose token_uri is the fake token endpoint.
  std::string ServiceAccountFile(const std::string& name = "sa.json",
                                 const std::string& private_pem = "") {
    return dir_.WriteFile(name,
                          ::ccrelay::testing::ServiceAccountFileJson(
                              GcpServiceAccount{kEmail, "key-1", Key().public_pem},
                              private_pem.empty() ? Key().private_pem : private_pem, TokenUrl()));
  }

  std::string AuthorizedUserFile(const std::string& relative, const std::string& client_id) {
    return dir_.WriteFile(
        relative, ::ccrelay::testing::AuthorizedUserFileJson(
                      GcpAuthorizedUser{client_id, kClientSecret, kRefreshToken}, TokenUrl()));
  }

  // The client_id of the last refresh-token grant the token endpoint saw.
  std::string LastClientId() const {
    const auto requests = token_endpoint_.requests();
    return requests.empty() ? "" : FormField(requests.back().body, "client_id");
  }

  ::ccrelay::testing::TempDir dir_;
  ::ccrelay::testing::FakeClock clock_;
  std::map<std::string, std::string> env_;
  GoogleCredentialChainOptions options_;
  FakeUpstream token_endpoint_;
  FakeUpstream metadata_;
};

TEST_F(GoogleCredentialChainTest, ServiceAccountFileMintsThroughTheJwtGrant) {
  options_.credentials_file = ServiceAccountFile();
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token.Reveal(), kToken);
  EXPECT_EQ(token->expires_unix_ms, clock_.UnixMillis() + 3599 * 1000);
  EXPECT_EQ(token->source, std::string("service account ") + kEmail);

  const auto requests = token_endpoint_.requests();
  ASSERT_EQ(requests.size(), 1U);
  const RecordedRequest& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/token");
  EXPECT_EQ(r.Header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(FormField(r.body, "grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
  const std::string assertion = FormField(r.body, "assertion");
  std::string error;
  EXPECT_TRUE(::ccrelay::testing::VerifyRs256Jwt(assertion, Key().public_pem, &error)) << error;
  const nlohmann::json claims = JwtClaims(assertion);
  EXPECT_EQ(claims["aud"], TokenUrl());
  EXPECT_EQ(claims["iss"], kEmail);
  EXPECT_EQ(claims["scope"], kCloudPlatformScope);
  EXPECT_EQ(claims["iat"], clock_.UnixMillis() / 1000);
  EXPECT_EQ(claims["exp"], clock_.UnixMillis() / 1000 + 3600);
}

TEST_F(GoogleCredentialChainTest, TheConfiguredTokenEndpointWinsOverTheFile) {
  // The file names a dead endpoint; the option sends the grant (and the aud) elsewhere.
  options_.credentials_file = dir_.WriteFile(
      "sa.json",
      ::ccrelay::testing::ServiceAccountFileJson(
          GcpServiceAccount{kEmail, "key-1", Key().public_pem}, Key().private_pem,
          "http://127.0.0.1:" + std::to_string(::ccrelay::testing::UnusedPort()) + "/token"));
  options_.token_endpoint = token_endpoint_.base_url() + "/sovereign/token";
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  const auto requests = token_endpoint_.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0].target, "/sovereign/token");
  EXPECT_EQ(JwtClaims(FormField(requests[0].body, "assertion"))["aud"], options_.token_endpoint);
}

TEST_F(GoogleCredentialChainTest, AuthorizedUserFileUsesTheRefreshTokenGrant) {
  options_.credentials_file =
      AuthorizedUserFile("user.json", "000000000000-6qr4p6gpi6hn506pt8ejuq83di341hur.apps");
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token.Reveal(), kToken);
  EXPECT_EQ(token->source, "authorized user (client 000000000000...)");
  const auto requests = token_endpoint_.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(FormField(requests[0].body, "grant_type"), "refresh_token");
  EXPECT_EQ(FormField(requests[0].body, "client_id"),
            "000000000000-6qr4p6gpi6hn506pt8ejuq83di341hur.apps");
  EXPECT_EQ(FormField(requests[0].body, "client_secret"), kClientSecret);
  EXPECT_EQ(FormField(requests[0].body, "refresh_token"), kRefreshToken);
}

TEST_F(GoogleCredentialChainTest, ApplicationDefaultCredentialsOrder) {
  options_.metadata_endpoint = metadata_.base_url();
  const std::string config_file = AuthorizedUserFile("config.json", "config-client");
  const std::string env_file = AuthorizedUserFile("env.json", "env-client");
  AuthorizedUserFile(".config/gcloud/application_default_credentials.json", "home-client");
  AuthorizedUserFile("sdk/application_default_credentials.json", "sdk-client");

  options_.credentials_file = config_file;
  env_["GOOGLE_APPLICATION_CREDENTIALS"] = env_file;
  ASSERT_TRUE(Chain().Resolve().ok());
  EXPECT_EQ(LastClientId(), "config-client");

  options_.credentials_file.clear();
  ASSERT_TRUE(Chain().Resolve().ok());
  EXPECT_EQ(LastClientId(), "env-client");

  env_.erase("GOOGLE_APPLICATION_CREDENTIALS");
  ASSERT_TRUE(Chain().Resolve().ok());
  EXPECT_EQ(LastClientId(), "home-client");

  env_["CLOUDSDK_CONFIG"] = dir_.path() + "/sdk";
  ASSERT_TRUE(Chain().Resolve().ok());
  EXPECT_EQ(LastClientId(), "sdk-client");
  EXPECT_EQ(metadata_.request_count(), 0U);

  // No well-known file there: the metadata server.
  env_["CLOUDSDK_CONFIG"] = dir_.path() + "/empty";
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, "metadata server");
  EXPECT_EQ(metadata_.request_count(), 1U);
  EXPECT_EQ(token_endpoint_.request_count(), 4U);
}

TEST_F(GoogleCredentialChainTest, AFileNamedExplicitlyMustExist) {
  options_.metadata_endpoint = metadata_.base_url();
  const std::string missing = dir_.path() + "/missing.json";
  env_["GOOGLE_APPLICATION_CREDENTIALS"] = missing;
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(token.status().message(),
              HasSubstr("Google credentials from GOOGLE_APPLICATION_CREDENTIALS: "));
  EXPECT_THAT(token.status().message(), HasSubstr(missing + " does not exist"));

  options_.credentials_file = missing;
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr("gcp_credentials_file"));
  EXPECT_EQ(metadata_.request_count(), 0U);
}

TEST_F(GoogleCredentialChainTest, ABrokenOrUnsupportedFileIsAnErrorNotASkip) {
  options_.metadata_endpoint = metadata_.base_url();
  const std::string well_known =
      dir_.WriteFile(".config/gcloud/application_default_credentials.json",
                     R"({"type": "external_account", "audience": "//iam.googleapis.com/x"})");
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(token.status().message(), HasSubstr("gcloud's well-known file"));
  EXPECT_THAT(token.status().message(), HasSubstr(well_known));
  EXPECT_THAT(token.status().message(), HasSubstr("\"external_account\""));

  dir_.WriteFile(".config/gcloud/application_default_credentials.json", "{not json");
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(metadata_.request_count(), 0U);
}

TEST_F(GoogleCredentialChainTest, MetadataServerToken) {
  options_.metadata_endpoint = metadata_.base_url() + "/";
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token.Reveal(), kToken);
  EXPECT_EQ(token->expires_unix_ms, clock_.UnixMillis() + 1800 * 1000);
  EXPECT_EQ(token->source, "metadata server");
  const auto requests = metadata_.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, kMetadataPath);
  EXPECT_EQ(requests[0].Header("Metadata-Flavor"), "Google");
}

TEST_F(GoogleCredentialChainTest, MetadataEndpointFromTheEnvironment) {
  options_.metadata_endpoint.clear();
  EXPECT_EQ(Chain().MetadataEndpoint(), "http://169.254.169.254");
  env_["GCE_METADATA_HOST"] = "127.0.0.1:" + std::to_string(metadata_.port());
  EXPECT_EQ(Chain().MetadataEndpoint(), metadata_.base_url());
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(metadata_.request_count(), 1U);

  options_.metadata_endpoint = "http://10.0.0.1:8080";
  EXPECT_EQ(Chain().MetadataEndpoint(), "http://10.0.0.1:8080");
}

TEST_F(GoogleCredentialChainTest, AnAnswerWithoutMetadataFlavorIsNotAMetadataServer) {
  options_.metadata_endpoint = metadata_.base_url();
  metadata_.SetHandler(Answering(200, {{"content-type", "application/json"}}, TokenJson()));
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  const std::string message(token.status().message());
  EXPECT_THAT(message, HasSubstr("no Google credentials found; tried: "));
  EXPECT_THAT(message, HasSubstr("GOOGLE_APPLICATION_CREDENTIALS (not set)"));
  EXPECT_THAT(message,
              HasSubstr(dir_.path() +
                        "/.config/gcloud/application_default_credentials.json (does not exist)"));
  EXPECT_THAT(message, HasSubstr("metadata server " + metadata_.base_url()));
  EXPECT_THAT(message, HasSubstr("without \"Metadata-Flavor: Google\""));
  EXPECT_THAT(message, Not(HasSubstr(kToken)));
}

TEST_F(GoogleCredentialChainTest, NothingAnywhereListsWhatWasTried) {
  env_.erase("HOME");
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(token.status().message(), HasSubstr("neither CLOUDSDK_CONFIG nor HOME is set"));
  EXPECT_THAT(token.status().message(),
              HasSubstr("metadata server " + options_.metadata_endpoint + " unreachable"));
}

TEST_F(GoogleCredentialChainTest, MetadataServerFailuresAreErrors) {
  options_.metadata_endpoint = metadata_.base_url();
  metadata_.SetHandler(Answering(503, {{"Metadata-Flavor", "Google"}}, "busy"));
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(),
              HasSubstr("Google credentials from metadata server " + metadata_.base_url()));
  EXPECT_THAT(token.status().message(), HasSubstr("HTTP 503"));

  metadata_.SetHandler(Answering(404, {{"Metadata-Flavor", "Google"}}, "not found"));
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(token.status().message(), HasSubstr("no default service account"));
}

TEST_F(GoogleCredentialChainTest, TokenEndpointErrorsNameTheSourceAndTheEndpoint) {
  options_.credentials_file = ServiceAccountFile();
  token_endpoint_.SetHandler(
      Answering(400, {{"content-type", "application/json"}},
                R"({"error":"invalid_grant","error_description":"Invalid JWT Signature."})"));
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(token.status().message(),
            "Google credentials from gcp_credentials_file " + options_.credentials_file +
                ": service account " + kEmail + ": token endpoint " + TokenUrl() +
                " answered HTTP 400 invalid_grant: Invalid JWT Signature.");

  token_endpoint_.SetHandler(Answering(503, {{"content-type", "text/html"}}, "<html>busy</html>"));
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(), HasSubstr("answered HTTP 503"));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("<html>")));

  token_endpoint_.SetHandler(
      Answering(200, {{"content-type", "application/json"}}, R"({"token_type":"Bearer"})"));
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(token.status().message(), HasSubstr("no access_token"));

  options_.token_endpoint =
      "http://127.0.0.1:" + std::to_string(::ccrelay::testing::UnusedPort()) + "/token";
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(), HasSubstr("POST " + options_.token_endpoint));
}

TEST_F(GoogleCredentialChainTest, WhatAnEndpointEchoesIsRedacted) {
  // The endpoint quotes the whole request body, as sent and decoded.
  token_endpoint_.SetHandler([](const RecordedRequest& request, Responder& r) {
    const std::string echo = request.body + " | " + FormField(request.body, "assertion") + " | " +
                             FormField(request.body, "client_secret") + " | " +
                             FormField(request.body, "refresh_token");
    r.Respond(400, {{"content-type", "application/json"}},
              nlohmann::json({{"error", "invalid_request"}, {"error_description", echo}}).dump());
  });
  options_.credentials_file = ServiceAccountFile();
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  std::string message(token.status().message());
  const std::string assertion = FormField(token_endpoint_.requests().back().body, "assertion");
  ASSERT_FALSE(assertion.empty());
  EXPECT_THAT(message, HasSubstr("<redacted:"));
  EXPECT_THAT(message, Not(HasSubstr(assertion.substr(0, 40))));
  EXPECT_THAT(message, Not(HasSubstr(assertion.substr(assertion.rfind('.') + 1, 40))));

  options_.credentials_file = AuthorizedUserFile("user.json", "client-1");
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  message = std::string(token.status().message());
  EXPECT_THAT(message, HasSubstr("<redacted:"));
  EXPECT_THAT(message, Not(HasSubstr(kClientSecret)));
  EXPECT_THAT(message, Not(HasSubstr("0gRefreshTokenUnitTest")));
}

TEST_F(GoogleCredentialChainTest, ABadPrivateKeyIsNamedNotQuoted) {
  options_.credentials_file = ServiceAccountFile(
      "bad.json",
      "-----BEGIN PRIVATE KEY-----\nU0VDUkVUS0VZTUFURVJJQUw=\n-----END PRIVATE KEY-----\n");
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(token.status().message(), HasSubstr(options_.credentials_file));
  EXPECT_THAT(token.status().message(), HasSubstr(kEmail));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("U0VDUkVUS0VZ")));
  EXPECT_EQ(token_endpoint_.request_count(), 0U);
}

}  // namespace
}  // namespace ccrelay::controlplane::gcp
