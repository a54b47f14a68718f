// The control plane's Google credential chain against tests/fakes/fake_gcp_auth.py: a token
// endpoint that verifies every JWT's RS256 signature with Google's own library
// (python3-google-auth) against the public key of a key pair this test generates, the
// refresh-token grant of authorized_user files, and the metadata server. The chain runs in this
// process with a real clock (the fake checks iat against its own).
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <nlohmann/json.hpp>
#include <openssl/sha.h>

#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/google_credential_chain.h"
#include "controlplane/credentials/google_credentials_file.h"
#include "controlplane/credentials/google_jwt.h"
#include "dataplane/common/clock.h"
#include "tests/fakes/fake_gcp_auth.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/test_rsa_key.h"

namespace ccrelay::testing {
namespace {

using controlplane::gcp::GoogleCredentialChain;
using controlplane::gcp::GoogleCredentialChainOptions;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kEmail[] = "relay@test-project.iam.gserviceaccount.com";
constexpr char kKeyId[] = "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a";
constexpr char kClientSecret[] = "fake-client-secret-for-tests-integration";
constexpr char kRefreshToken[] = "1//0gIntegrationRefreshToken-abc/def";

const TestRsaKey& AccountKey() { return SharedTestRsaKey(0); }
const TestRsaKey& OtherKey() { return SharedTestRsaKey(1); }

GcpServiceAccount Account() { return GcpServiceAccount{kEmail, kKeyId, AccountKey().public_pem}; }
GcpAuthorizedUser User() {
  return GcpAuthorizedUser{"000000000000-integration.apps.googleusercontent.com", kClientSecret,
                           kRefreshToken};
}

std::string Sha256Hex(std::string_view s) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

class GoogleCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = std::make_unique<FakeGcpAuth>(std::vector<GcpServiceAccount>{Account()},
                                          std::vector<GcpAuthorizedUser>{User()});
    ASSERT_TRUE(fake_->ok()) << fake_->log();
    // HOME is an empty temp dir: nothing of this machine's gcloud setup is seen.
    env_["HOME"] = home_.path();
    options_.token_endpoint = fake_->token_endpoint();
    // Nothing listens on the metadata endpoint unless a test says so.
    options_.metadata_endpoint = "http://127.0.0.1:" + std::to_string(UnusedPort());
  }

  GoogleCredentialChain Chain() const {
    GoogleCredentialChainOptions options = options_;
    options.env = controlplane::aws::MapEnvironment(env_);
    return GoogleCredentialChain(std::move(options));
  }

  std::string ServiceAccountFile(const std::string& private_pem) {
    return files_.WriteFile("sa.json", ServiceAccountFileJson(Account(), private_pem));
  }

  // The token the fake issued with this value, from its tokens file (null if none).
  nlohmann::json Issued(std::string_view token) const {
    for (const nlohmann::json& t : fake_->IssuedTokens()) {
      if (t.value("sha256", "") == Sha256Hex(token)) {
        return t;
      }
    }
    return nullptr;
  }

  // The request log holds fingerprints only: no key, secret or token.
  void ExpectNoSecretsInTheFakeLog(const std::vector<std::string>& tokens) const {
    const std::string log = nlohmann::json(fake_->Requests()).dump();
    EXPECT_THAT(log, Not(HasSubstr("PRIVATE KEY")));
    EXPECT_THAT(log, Not(HasSubstr(kClientSecret)));
    EXPECT_THAT(log, Not(HasSubstr("IntegrationRefreshToken")));
    for (const std::string& token : tokens) {
      EXPECT_THAT(log, Not(HasSubstr(token)));
    }
  }

  std::unique_ptr<FakeGcpAuth> fake_;
  TempDir home_;
  TempDir files_;
  std::map<std::string, std::string> env_;
  GoogleCredentialChainOptions options_;
};

TEST_F(GoogleCredentialsTest, ServiceAccountFileJwtVerifiedByGoogleAuth) {
  options_.credentials_file = ServiceAccountFile(AccountKey().private_pem);
  const int64_t before_ms = common::RealClock::Get().UnixMillis();
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status() << "\n" << fake_->log();
  EXPECT_EQ(token->source, std::string("service account ") + kEmail);
  EXPECT_THAT(std::string(token->access_token.Reveal()), ::testing::StartsWith("ya29.fake-"));
  EXPECT_GE(token->expires_unix_ms, before_ms + 3600 * 1000);
  EXPECT_LE(token->expires_unix_ms, common::RealClock::Get().UnixMillis() + 3600 * 1000);

  const nlohmann::json issued = Issued(token->access_token.Reveal());
  ASSERT_TRUE(issued.is_object()) << "the token is in the fake's tokens file";
  EXPECT_EQ(issued["subject"], kEmail);
  EXPECT_EQ(issued["grant"], "jwt-bearer");

  const auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 1U);
  const nlohmann::json& r = requests[0];
  EXPECT_EQ(r["route"], "token");
  EXPECT_EQ(r["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
  EXPECT_EQ(r["verified"], true);
  EXPECT_EQ(r["kid"], kKeyId);
  EXPECT_EQ(r["iss"], kEmail);
  EXPECT_EQ(r["aud"], fake_->token_endpoint());
  EXPECT_EQ(r["scope"], "https://www.googleapis.com/auth/cloud-platform");
  EXPECT_EQ(r["exp"].get<int64_t>() - r["iat"].get<int64_t>(), 3600);
  EXPECT_EQ(r["issued_fingerprint"], token->access_token.Fingerprint());
  ExpectNoSecretsInTheFakeLog({std::string(token->access_token.Reveal())});
}

TEST_F(GoogleCredentialsTest, TheFileTokenUriIsUsedWhenNoEndpointIsConfigured) {
  options_.token_endpoint.clear();
  options_.credentials_file = files_.WriteFile(
      "sa.json",
      ServiceAccountFileJson(Account(), AccountKey().private_pem, fake_->token_endpoint()));
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(fake_->Requests().at(0)["aud"], fake_->token_endpoint());
}

// The independent verifier refuses what it should: the fake is no rubber stamp.
TEST_F(GoogleCredentialsTest, AJwtSignedWithAnotherKeyIsRefusedByTheVerifier) {
  options_.credentials_file = ServiceAccountFile(OtherKey().private_pem);
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(token.status().message(), HasSubstr("invalid_grant: Invalid JWT Signature."));
  EXPECT_THAT(token.status().message(), HasSubstr(options_.credentials_file));
  EXPECT_THAT(token.status().message(), HasSubstr(fake_->token_endpoint()));
  const auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0]["verified"], false);
  EXPECT_EQ(fake_->IssuedTokens().size(), 0U);

  // A correctly signed JWT with a claim the verifier must refuse: the wrong audience.
  controlplane::gcp::ServiceAccountKey key;
  key.client_email = kEmail;
  key.private_key = common::Secret(AccountKey().private_pem);
  key.private_key_id = kKeyId;
  const int64_t now_s = common::RealClock::Get().UnixMillis() / 1000;
  auto wrong_aud = controlplane::gcp::BuildServiceAccountJwt(
      key, "https://elsewhere.example/token", controlplane::gcp::kCloudPlatformScope, now_s);
  ASSERT_TRUE(wrong_aud.ok());
  auto stale = controlplane::gcp::BuildServiceAccountJwt(
      key, fake_->token_endpoint(), controlplane::gcp::kCloudPlatformScope, now_s - 7200);
  ASSERT_TRUE(stale.ok());
  auto good = controlplane::gcp::BuildServiceAccountJwt(
      key, fake_->token_endpoint(), controlplane::gcp::kCloudPlatformScope, now_s);
  ASSERT_TRUE(good.ok());
  // The signature of another JWT pasted on a good one's header and claims.
  const std::string spliced = good->substr(0, good->rfind('.')) + stale->substr(stale->rfind('.'));
  const auto post = [&](const std::string& assertion) {
    return Fetch(
        fake_->port(), "POST", "/token", {{"content-type", "application/x-www-form-urlencoded"}},
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=" + assertion);
  };
  HttpResponse r = post(*wrong_aud);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("audience"));
  r = post(*stale);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("invalid_grant"));
  r = post(spliced);
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("Invalid JWT Signature."));
  r = post(*good);
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(GoogleCredentialsTest, AuthorizedUserFile) {
  options_.credentials_file = files_.WriteFile("user.json", AuthorizedUserFileJson(User()));
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status() << "\n" << fake_->log();
  EXPECT_EQ(token->source, "authorized user (client 000000000000...)");
  const nlohmann::json issued = Issued(token->access_token.Reveal());
  ASSERT_TRUE(issued.is_object());
  EXPECT_EQ(issued["grant"], "refresh_token");
  const auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0]["grant_type"], "refresh_token");
  EXPECT_EQ(requests[0]["verified"], true);
  ExpectNoSecretsInTheFakeLog({std::string(token->access_token.Reveal())});

  // A revoked refresh token: the endpoint's refusal, without the secrets.
  fake_->SetAccounts({Account()}, {GcpAuthorizedUser{User().client_id, kClientSecret, "1//other"}});
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(token.status().message(), HasSubstr("answered HTTP 400 invalid_grant"));
  EXPECT_THAT(token.status().message(), Not(HasSubstr(kClientSecret)));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("IntegrationRefreshToken")));
}

TEST_F(GoogleCredentialsTest, MetadataServer) {
  options_.metadata_endpoint = fake_->url();
  ASSERT_TRUE(fake_->Set("expires_in=600"));
  const int64_t before_ms = common::RealClock::Get().UnixMillis();
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status() << "\n" << fake_->log();
  EXPECT_EQ(token->source, "metadata server");
  EXPECT_GE(token->expires_unix_ms, before_ms + 600 * 1000);
  EXPECT_LE(token->expires_unix_ms, common::RealClock::Get().UnixMillis() + 600 * 1000);
  const nlohmann::json issued = Issued(token->access_token.Reveal());
  ASSERT_TRUE(issued.is_object());
  EXPECT_EQ(issued["grant"], "metadata");
  const auto requests = fake_->Requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0]["route"], "metadata");
  EXPECT_EQ(requests[0]["metadata_flavor"], "Google");
  EXPECT_EQ(requests[0]["scope"], "https://www.googleapis.com/auth/cloud-platform");

  // The fake, like GCE, wants the header too.
  const HttpResponse bare =
      Fetch(fake_->port(), "GET", "/computeMetadata/v1/instance/service-accounts/default/token");
  EXPECT_EQ(bare.status, 403);

  // Also found through GCE_METADATA_HOST.
  options_.metadata_endpoint.clear();
  env_["GCE_METADATA_HOST"] = "127.0.0.1:" + std::to_string(fake_->port());
  token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(fake_->Stats()["metadata_calls"], 3);  // with the bare one
}

TEST_F(GoogleCredentialsTest, AMetadataAnswerWithoutTheFlavorHeaderIsRefused) {
  options_.metadata_endpoint = fake_->url();
  ASSERT_TRUE(fake_->Set("metadata_flavor=0"));
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(token.status().message(), HasSubstr("no Google credentials found"));
  EXPECT_THAT(token.status().message(), HasSubstr("without \"Metadata-Flavor: Google\""));
  // The fake did answer with a token: the chain did not take it.
  EXPECT_EQ(fake_->Stats()["issued"], 1);
}

TEST_F(GoogleCredentialsTest, AdcThroughGoogleApplicationCredentials) {
  env_["GOOGLE_APPLICATION_CREDENTIALS"] = ServiceAccountFile(AccountKey().private_pem);
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, std::string("service account ") + kEmail);
  EXPECT_EQ(fake_->Requests().at(0)["verified"], true);
}

TEST_F(GoogleCredentialsTest, AdcThroughTheWellKnownFileUnderHome) {
  options_.metadata_endpoint = fake_->url();  // reachable, but the file comes first
  home_.WriteFile(".config/gcloud/application_default_credentials.json",
                  AuthorizedUserFileJson(User()));
  auto token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, "authorized user (client 000000000000...)");
  EXPECT_EQ(fake_->Stats()["metadata_calls"], 0);
  EXPECT_EQ(fake_->Stats()["token_calls"], 1);

  // gcloud's CLOUDSDK_CONFIG moves the file: a service account there.
  files_.WriteFile("gcloud/application_default_credentials.json",
                   ServiceAccountFileJson(Account(), AccountKey().private_pem));
  env_["CLOUDSDK_CONFIG"] = files_.path() + "/gcloud";
  token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->source, std::string("service account ") + kEmail);
}

TEST_F(GoogleCredentialsTest, TokenEndpointFailuresAreClearErrors) {
  options_.credentials_file = ServiceAccountFile(AccountKey().private_pem);
  ASSERT_TRUE(fake_->FailNext("status=503&route=token"));
  auto token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(),
              HasSubstr("Google credentials from gcp_credentials_file " +
                        options_.credentials_file + ": service account " + kEmail +
                        ": token endpoint " + fake_->token_endpoint() + " answered HTTP 503"));

  // The next call goes through.
  token = Chain().Resolve();
  ASSERT_TRUE(token.ok()) << token.status();

  // An endpoint that quotes the request back: the assertion is redacted.
  ASSERT_TRUE(fake_->FailNext("status=400&route=token&error=invalid_request&echo=1"));
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr("you sent: grant_type="));
  EXPECT_THAT(token.status().message(), HasSubstr("assertion=<redacted:"));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("assertion=eyJ")));

  // The same for the secrets of an authorized_user file.
  options_.credentials_file = files_.WriteFile("user.json", AuthorizedUserFileJson(User()));
  ASSERT_TRUE(fake_->FailNext("status=400&route=token&error=invalid_request&echo=1"));
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr("client_secret=<redacted:"));
  EXPECT_THAT(token.status().message(), HasSubstr("refresh_token=<redacted:"));
  EXPECT_THAT(token.status().message(), Not(HasSubstr(kClientSecret)));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("IntegrationRefreshToken")));
  ExpectNoSecretsInTheFakeLog({});

  // Nobody home.
  options_.token_endpoint = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/token";
  token = Chain().Resolve();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(token.status().message(), HasSubstr("POST " + options_.token_endpoint));
}

}  // namespace
}  // namespace ccrelay::testing
