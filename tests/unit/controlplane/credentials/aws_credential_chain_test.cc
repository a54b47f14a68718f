#include "controlplane/credentials/aws_credential_chain.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "controlplane/credentials/aws_shared_files.h"
#include "controlplane/credentials/aws_sts_web_identity.h"
#include "controlplane/credentials/http_fetch.h"
#include "tests/fakes/fake_aws_metadata.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/temp_dir.h"
#include "tests/fakes/test_ca.h"

namespace ccrelay::controlplane::aws {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kRoleArn = "arn:aws:iam::123456789012:role/fake";

// A port nothing listens on (bound, then closed): connecting is refused at once.
uint16_t ClosedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One fake for the whole binary (Python takes a few hundred ms to start); each test resets it.
::ccrelay::testing::FakeAwsMetadata& SharedFake() {
  static ::ccrelay::testing::FakeAwsMetadata fake;
  static const bool started = fake.Start();
  EXPECT_TRUE(started) << fake.error();
  return fake;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

class AwsCredentialChainTest : public ::testing::Test {
 protected:
  AwsCredentialChainTest() {
    env_["HOME"] = dir_.path();
    // Never reach for a real metadata service from a unit test.
    env_["AWS_EC2_METADATA_DISABLED"] = "true";
  }

  std::string Home(const std::string& relative) const { return dir_.path() + "/" + relative; }

  AwsCredentialChain Chain() const {
    AwsCredentialChainOptions options = options_;
    options.env = MapEnvironment(env_);
    options.clock = &clock_;
    return AwsCredentialChain(std::move(options));
  }

  absl::StatusOr<AwsCredentials> Resolve() const { return Chain().Resolve(); }

  // The shared fake, reset, with these settings; STS expects the token in Home("token").
  void StartFake(nlohmann::json settings = nlohmann::json::object()) {
    fake_ = &SharedFake();
    settings["reset"] = true;
    if (!settings.contains("token_file")) {
      settings["token_file"] = Home("token");
    }
    ASSERT_TRUE(fake_->Configure(settings));
  }

  ::ccrelay::testing::TempDir dir_;
  ::ccrelay::testing::FakeClock clock_;
  std::map<std::string, std::string> env_;
  AwsCredentialChainOptions options_;
  ::ccrelay::testing::FakeAwsMetadata* fake_ = nullptr;
};

// --- environment ---

TEST_F(AwsCredentialChainTest, EnvironmentKeys) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "envSecret";
  env_["AWS_SESSION_TOKEN"] = "envToken";
  env_["AWS_CREDENTIAL_EXPIRATION"] = "2027-01-15T09:00:00Z";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "AKIDENV");
  EXPECT_EQ(c->secret_access_key.Reveal(), "envSecret");
  EXPECT_EQ(c->session_token.Reveal(), "envToken");
  EXPECT_EQ(c->expires_unix_ms, ::ccrelay::testing::FakeClock::kStartUnixMs + 3'600'000);
  EXPECT_EQ(c->source, "environment");
  EXPECT_EQ(c->kind, AwsCredentialKind::kEnvironment);
}

TEST_F(AwsCredentialChainTest, EnvironmentLongTermKeysHaveNoExpiry) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "envSecret";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->session_token.empty());
  EXPECT_EQ(c->expires_unix_ms, 0);
}

TEST_F(AwsCredentialChainTest, EnvironmentHalfConfiguredIsAnErrorWithoutTheSecret) {
  env_["AWS_SECRET_ACCESS_KEY"] = "envSecretAlone";
  // A profile with keys is not reached: the environment is configured and fails.
  WriteFile(Home(".aws/credentials"),
            "[default]\naws_access_key_id=AKIDFILE\n"
            "aws_secret_access_key=fileSecret\n");
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("environment: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
  EXPECT_THAT(std::string(c.status().message()), Not(HasSubstr("envSecretAlone")));
}

TEST_F(AwsCredentialChainTest, EnvironmentBadExpirationNamesTheVariable) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "envSecret";
  env_["AWS_CREDENTIAL_EXPIRATION"] = "tomorrow";
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("AWS_CREDENTIAL_EXPIRATION"));
}

// --- shared files ---

TEST_F(AwsCredentialChainTest, DefaultProfileFromCredentialsFile) {
  WriteFile(Home(".aws/credentials"),
            "# comment\n[default]\naws_access_key_id = AKIDFILE\n"
            "aws_secret_access_key = fileSecret\naws_session_token = fileToken\n");
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "AKIDFILE");
  EXPECT_EQ(c->secret_access_key.Reveal(), "fileSecret");
  EXPECT_EQ(c->session_token.Reveal(), "fileToken");
  EXPECT_EQ(c->source, "profile default");
  EXPECT_EQ(c->kind, AwsCredentialKind::kProfile);
}

TEST_F(AwsCredentialChainTest, ConfigFileSectionsSayProfileAndCredentialsFileWins) {
  // The config file names it "[profile dev]"; "[dev]" there is another thing (ignored). The
  // credentials file's "[dev]" overrides key by key.
  WriteFile(Home(".aws/config"),
            "[dev]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n"
            "[profile dev]\nregion = eu-west-1\naws_access_key_id = AKIDCONFIG\n"
            "aws_secret_access_key = configSecret\n");
  options_.profile = "dev";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "AKIDCONFIG");
  EXPECT_EQ(c->source, "profile dev");

  WriteFile(Home(".aws/credentials"), "[dev]\naws_secret_access_key = credsSecret\n");
  c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "AKIDCONFIG");
  EXPECT_EQ(c->secret_access_key.Reveal(), "credsSecret");

  // In the credentials file "[profile dev]" is not "dev".
  WriteFile(Home(".aws/config"), "");
  WriteFile(Home(".aws/credentials"),
            "[profile dev]\naws_access_key_id = AKIDX\naws_secret_access_key = x\n");
  c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(AwsCredentialChainTest, ChosenProfileMissingNamesProfileAndFiles) {
  WriteFile(Home(".aws/credentials"),
            "[default]\naws_access_key_id = A\naws_secret_access_key = s\n");
  env_["AWS_PROFILE"] = "staging";
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  const std::string message(c.status().message());
  EXPECT_THAT(message, HasSubstr("AWS profile \"staging\" not found in"));
  EXPECT_THAT(message, HasSubstr(Home(".aws/credentials")));
  EXPECT_THAT(message, HasSubstr(Home(".aws/config")));

  // The option beats AWS_PROFILE.
  options_.profile = "default";
  c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "profile default");
}

TEST_F(AwsCredentialChainTest, FileLocationsFromEnvironment) {
  WriteFile(Home("elsewhere/creds"), "[p]\naws_access_key_id = AKIDP\naws_secret_access_key = s\n");
  WriteFile(Home("elsewhere/conf"),
            "[profile q]\naws_access_key_id = AKIDQ\naws_secret_access_key = s\n");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = "~/elsewhere/creds";
  env_["AWS_CONFIG_FILE"] = Home("elsewhere/conf");
  options_.profile = "p";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "AKIDP");
  options_.profile = "q";
  c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "AKIDQ");
}

TEST_F(AwsCredentialChainTest, UnsupportedProfileKindsNameProfileAndKey) {
  WriteFile(Home(".aws/config"),
            "[profile chained]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n"
            "[profile sso]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\n"
            "[profile proc]\ncredential_process = /bin/creds\n"
            "[profile halfrole]\nrole_arn = arn:aws:iam::1:role/r\n");
  for (const auto& [profile, key] :
       std::map<std::string, std::string>{{"chained", "source_profile"},
                                          {"sso", "sso_start_url"},
                                          {"proc", "credential_process"},
                                          {"halfrole", "web_identity_token_file"}}) {
    options_.profile = profile;
    auto c = Resolve();
    ASSERT_FALSE(c.ok()) << profile;
    const std::string message(c.status().message());
    EXPECT_THAT(message, HasSubstr("profile \"" + profile + "\" in " + Home(".aws/config")));
    EXPECT_THAT(message, HasSubstr(key));
  }
}

TEST_F(AwsCredentialChainTest, HalfKeysInProfileIsAnErrorWithoutTheSecret) {
  WriteFile(Home(".aws/credentials"), "[default]\naws_secret_access_key = lonelySecret\n");
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("aws_secret_access_key without aws_access_key_id"));
  EXPECT_THAT(std::string(c.status().message()), Not(HasSubstr("lonelySecret")));
}

TEST_F(AwsCredentialChainTest, NothingConfiguredListsWhatWasTried) {
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  const std::string message(c.status().message());
  EXPECT_THAT(message, HasSubstr("no AWS credentials found; tried: "));
  EXPECT_THAT(message, HasSubstr("environment (AWS_ACCESS_KEY_ID not set)"));
  EXPECT_THAT(message, HasSubstr("web identity (AWS_WEB_IDENTITY_TOKEN_FILE not set)"));
  EXPECT_THAT(message, HasSubstr("profile default (not in " + Home(".aws/credentials")));
  EXPECT_THAT(message, HasSubstr("container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
  EXPECT_THAT(message, HasSubstr("instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"));
}

TEST(AwsCredentialSharedFilesTest, ParsesTheAwsIniFlavour) {
  const IniSections s = ParseIni(
      "; comment\n"
      "[default]\r\n"
      "AWS_Access_Key_Id=AKID\r\n"
      "region: us-west-2\n"
      "s3 =\n"
      "  addressing_style = path\n"
      "[ profile  spaced ]\n"
      "  aws_secret_access_key = indented first key\n"
      "# aws_session_token = commented\n");
  ASSERT_EQ(s.count("default"), 1u);
  EXPECT_EQ(s.at("default").at("aws_access_key_id"), "AKID");
  EXPECT_EQ(s.at("default").at("region"), "us-west-2");
  EXPECT_EQ(s.at("default").at("s3"), "");
  EXPECT_EQ(s.at("default").count("addressing_style"), 0u);
  ASSERT_EQ(s.count("profile  spaced"), 1u);
  EXPECT_EQ(s.at("profile  spaced").at("aws_secret_access_key"), "indented first key");
  EXPECT_EQ(s.at("profile  spaced").count("aws_session_token"), 0u);
}

// --- timestamps and helpers ---

TEST(AwsCredentialTimestampTest, ParsesIso8601Forms) {
  EXPECT_EQ(*ParseAwsTimestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseAwsTimestamp("2027-01-15T08:00:00Z"),
            ::ccrelay::testing::FakeClock::kStartUnixMs);
  EXPECT_EQ(*ParseAwsTimestamp("2027-01-15T08:00:00.250Z"),
            ::ccrelay::testing::FakeClock::kStartUnixMs + 250);
  EXPECT_EQ(*ParseAwsTimestamp("2027-01-15T10:00:00+02:00"),
            ::ccrelay::testing::FakeClock::kStartUnixMs);
  EXPECT_EQ(*ParseAwsTimestamp("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_FALSE(ParseAwsTimestamp("2027-01-15 08:00:00").ok());
  EXPECT_FALSE(ParseAwsTimestamp("2027-01-15T08:00:00").ok());
  EXPECT_FALSE(ParseAwsTimestamp("1700000000").ok());
  EXPECT_FALSE(ParseAwsTimestamp("").ok());
}

TEST(AwsCredentialRedactTest, ReplacesSecretsByFingerprint) {
  const std::string out = Redact("token abc and abc again", {"abc", ""});
  EXPECT_THAT(out, Not(HasSubstr("abc")));
  EXPECT_THAT(out, HasSubstr("<redacted:" + common::FingerprintOf("abc") + ">"));
}

TEST(AwsCredentialXmlTest, ElementTextDecodesEntities) {
  EXPECT_EQ(XmlElementText("<a><B> x&amp;y&lt;/&gt; </B></a>", "B"), "x&y</>");
  EXPECT_EQ(XmlElementText("<a></a>", "B"), std::nullopt);
}

TEST_F(AwsCredentialChainTest, StsEndpointSelection) {
  EXPECT_EQ(Chain().StsEndpoint(), "https://sts.amazonaws.com");
  env_["AWS_DEFAULT_REGION"] = "eu-central-1";
  EXPECT_EQ(Chain().StsEndpoint(), "https://sts.eu-central-1.amazonaws.com");
  env_["AWS_REGION"] = "cn-north-1";
  EXPECT_EQ(Chain().StsEndpoint(), "https://sts.cn-north-1.amazonaws.com.cn");
  options_.region = "eu-west-1";
  EXPECT_EQ(Chain().StsEndpoint(), "https://sts.eu-west-1.amazonaws.com");
  env_["AWS_ENDPOINT_URL"] = "http://all.example";
  EXPECT_EQ(Chain().StsEndpoint(), "http://all.example");
  env_["AWS_ENDPOINT_URL_STS"] = "http://sts.example";
  EXPECT_EQ(Chain().StsEndpoint(), "http://sts.example");
  options_.sts_endpoint = "http://configured.example";
  EXPECT_EQ(Chain().StsEndpoint(), "http://configured.example");
}

// --- web identity against the fake STS ---

TEST_F(AwsCredentialChainTest, WebIdentityReadsTheTokenFileAtEveryCall) {
  StartFake();
  WriteFile(Home("token"), "first-oidc-token\n");
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = Home("token");
  env_["AWS_ROLE_ARN"] = kRoleArn;
  env_["AWS_ENDPOINT_URL_STS"] = fake_->url();
  ASSERT_TRUE(fake_->Configure(
      {{"expires_unix_ms", ::ccrelay::testing::FakeClock::kStartUnixMs + 3'600'000}}));
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "ASIAFAKE00000001");
  EXPECT_EQ(c->secret_access_key.Reveal(), "fakeSecret/1+wJalrXUtnFEMIK7MDENG");
  EXPECT_EQ(c->session_token.Reveal(), "fakeSessionToken1IQoJb3JpZ2luX2VjEJr");
  EXPECT_EQ(c->expires_unix_ms, ::ccrelay::testing::FakeClock::kStartUnixMs + 3'600'000);
  EXPECT_EQ(c->source, "web identity");
  EXPECT_EQ(c->kind, AwsCredentialKind::kWebIdentity);
  nlohmann::json counters = fake_->Counters();
  EXPECT_EQ(counters["last_role_arn"], std::string(kRoleArn));
  EXPECT_EQ(counters["last_session_name"],
            "cc-relay-" + std::to_string(::ccrelay::testing::FakeClock::kStartUnixMs / 1000));

  // Kubernetes rotates the token: the fake now wants the new one, and gets it.
  WriteFile(Home("token"), "second-oidc-token\n");
  env_["AWS_ROLE_SESSION_NAME"] = "my-session";
  c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "ASIAFAKE00000002");
  counters = fake_->Counters();
  EXPECT_EQ(counters["sts_calls"], 2);
  EXPECT_EQ(counters["last_session_name"], "my-session");
}

TEST_F(AwsCredentialChainTest, WebIdentityRefusalNamesRoleAndCodeButNotTheToken) {
  StartFake({{"fail_next", 1}, {"fail_mode", "denied"}});
  WriteFile(Home("token"), "secret-oidc-token");
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = Home("token");
  env_["AWS_ROLE_ARN"] = kRoleArn;
  options_.sts_endpoint = fake_->url();
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kPermissionDenied);
  std::string message(c.status().message());
  EXPECT_THAT(message, HasSubstr("AWS credentials from web identity: STS "
                                 "AssumeRoleWithWebIdentity for role " +
                                 std::string(kRoleArn)));
  EXPECT_THAT(message, HasSubstr("HTTP 403 AccessDenied"));
  EXPECT_THAT(message, HasSubstr(Home("token")));
  // The fake echoed the token in its message; it is redacted.
  EXPECT_THAT(message, Not(HasSubstr("secret-oidc-token")));
  EXPECT_THAT(message, HasSubstr("<redacted:"));

  // A token the fake does not expect (it reads another file): InvalidIdentityToken.
  ASSERT_TRUE(fake_->Configure({{"token_file", Home("other-token")}}));
  WriteFile(Home("other-token"), "expected");
  c = Resolve();
  ASSERT_FALSE(c.ok());
  message = std::string(c.status().message());
  EXPECT_THAT(message, HasSubstr("InvalidIdentityToken"));
  EXPECT_THAT(message, Not(HasSubstr("secret-oidc-token")));

  // STS 5xx: retryable.
  ASSERT_TRUE(fake_->Configure({{"fail_next", 1}, {"fail_mode", "500"}}));
  c = Resolve();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(AwsCredentialChainTest, WebIdentityNeedsRoleArnAndReadableTokenFile) {
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = Home("missing-token");
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("AWS_ROLE_ARN"));
  env_["AWS_ROLE_ARN"] = kRoleArn;
  options_.sts_endpoint = "http://127.0.0.1:" + std::to_string(ClosedPort());
  c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(Home("missing-token")));
}

TEST_F(AwsCredentialChainTest, WebIdentityFromProfile) {
  StartFake({{"role_arn", "arn:aws:iam::1:role/from-profile"}});
  WriteFile(Home("token"), "profile-oidc-token");
  WriteFile(Home(".aws/config"),
            "[profile k8s]\nrole_arn = arn:aws:iam::1:role/from-profile\n"
            "web_identity_token_file = " +
                Home("token") + "\nrole_session_name = pod-1\n");
  options_.profile = "k8s";
  options_.sts_endpoint = fake_->url();
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "profile k8s");
  EXPECT_EQ(c->kind, AwsCredentialKind::kProfile);
  EXPECT_GT(c->expires_unix_ms, 0);
  EXPECT_EQ(fake_->Counters()["last_session_name"], "pod-1");
}

// --- container endpoint ---

TEST_F(AwsCredentialChainTest, ContainerRelativeUriWithAuthorization) {
  StartFake({{"container_auth", "containerAuthSecret"}});
  options_.container_endpoint = fake_->url();
  env_["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/task-uuid";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "containerAuthSecret";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "container");
  EXPECT_EQ(c->kind, AwsCredentialKind::kContainer);
  EXPECT_EQ(c->access_key_id, "ASIAFAKE00000001");
  EXPECT_FALSE(c->session_token.empty());
  EXPECT_GT(c->expires_unix_ms, 0);
  EXPECT_EQ(fake_->Counters()["last_authorization"], "containerAuthSecret");
}

TEST_F(AwsCredentialChainTest, ContainerTokenFileWinsAndRefusalHidesTheToken) {
  StartFake({{"container_auth", "fromFileAuth"}});
  WriteFile(Home("pod-identity-token"), "fromFileAuth\n");
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = fake_->url() + "/v2/credentials";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = Home("pod-identity-token");
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "fromEnvAuth";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(fake_->Counters()["last_authorization"], "fromFileAuth");

  // Rotated file, endpoint still wants the old value: refused; the fake echoes what it got.
  WriteFile(Home("pod-identity-token"), "rotatedAuthValue\n");
  c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kPermissionDenied);
  const std::string message(c.status().message());
  EXPECT_THAT(message, HasSubstr("AWS credentials from container: container endpoint " +
                                 fake_->url() + "/v2/credentials: HTTP 403 AccessDenied"));
  EXPECT_THAT(message, Not(HasSubstr("rotatedAuthValue")));
}

TEST_F(AwsCredentialChainTest, ContainerFullUriOverHttpMustBeLocal) {
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://credentials.example.com/creds";
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("loopback"));
  EXPECT_TRUE(CheckContainerUrl("http://169.254.170.23/v1/credentials").ok());
  EXPECT_TRUE(CheckContainerUrl("http://[fd00:ec2::23]/v1/credentials").ok());
  EXPECT_TRUE(CheckContainerUrl("https://credentials.example.com/creds").ok());
}

// --- instance metadata ---

TEST_F(AwsCredentialChainTest, InstanceMetadataV2TokenFlow) {
  StartFake();
  env_.erase("AWS_EC2_METADATA_DISABLED");
  options_.imds_endpoint = fake_->url();
  ASSERT_TRUE(fake_->Configure(
      {{"expires_unix_ms", ::ccrelay::testing::FakeClock::kStartUnixMs + 21'600'000}}));
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "instance metadata");
  EXPECT_EQ(c->kind, AwsCredentialKind::kInstanceMetadata);
  EXPECT_EQ(c->access_key_id, "ASIAFAKE00000001");
  EXPECT_EQ(c->expires_unix_ms, ::ccrelay::testing::FakeClock::kStartUnixMs + 21'600'000);
  const nlohmann::json counters = fake_->Counters();
  EXPECT_EQ(counters["imds_token_calls"], 1);
  EXPECT_EQ(counters["imds_credential_calls"], 1);
}

TEST_F(AwsCredentialChainTest, InstanceMetadataEndpointFromEnvironment) {
  StartFake();
  env_.erase("AWS_EC2_METADATA_DISABLED");
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = fake_->url() + "/";
  auto c = Resolve();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "instance metadata");
}

TEST_F(AwsCredentialChainTest, InstanceMetadataDisabledIsNotAsked) {
  StartFake();
  options_.imds_endpoint = fake_->url();
  env_["AWS_EC2_METADATA_DISABLED"] = "TRUE";
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"));
  EXPECT_EQ(fake_->Counters()["imds_token_calls"], 0);
}

TEST_F(AwsCredentialChainTest, InstanceMetadataUnreachableIsAQuickNotFound) {
  env_.erase("AWS_EC2_METADATA_DISABLED");
  options_.imds_endpoint = "http://127.0.0.1:" + std::to_string(ClosedPort());
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("instance metadata (" + options_.imds_endpoint + " unreachable"));
}

TEST_F(AwsCredentialChainTest, InstanceMetadataSilentIsNotFoundAfterTheTimeout) {
  StartFake();
  env_.erase("AWS_EC2_METADATA_DISABLED");
  options_.imds_endpoint = fake_->url();
  options_.metadata_timeouts.response = std::chrono::milliseconds(200);
  ASSERT_TRUE(fake_->Configure({{"delay_ms", 1000}}));
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("no answer within 200 ms"));
}

TEST_F(AwsCredentialChainTest, InstanceWithoutRoleIsNotFound) {
  StartFake({{"imds_role", ""}});
  env_.erase("AWS_EC2_METADATA_DISABLED");
  options_.imds_endpoint = fake_->url();
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("no IAM role attached"));
}

TEST_F(AwsCredentialChainTest, InstanceMetadataFailureIsAnError) {
  StartFake({{"fail_next", 1}, {"fail_mode", "denied"}});
  env_.erase("AWS_EC2_METADATA_DISABLED");
  options_.imds_endpoint = fake_->url();
  auto c = Resolve();
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("AWS credentials from instance metadata: instance metadata " +
                        fake_->url() + " role fake-role: Code AssumeRoleUnauthorizedAccess"));
  EXPECT_THAT(std::string(c.status().message()), Not(HasSubstr("imdsToken")));
}

// --- order ---

TEST_F(AwsCredentialChainTest, FirstConfiguredSourceWins) {
  StartFake({{"container_auth", "auth"}});
  WriteFile(Home("token"), "oidc");
  env_.erase("AWS_EC2_METADATA_DISABLED");
  options_.imds_endpoint = fake_->url();
  options_.container_endpoint = fake_->url();
  options_.sts_endpoint = fake_->url();
  env_["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/x";
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "auth";
  WriteFile(Home(".aws/credentials"),
            "[default]\naws_access_key_id = AKIDFILE\n"
            "aws_secret_access_key = s\n");
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = Home("token");
  env_["AWS_ROLE_ARN"] = kRoleArn;
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "s";

  const auto source = [this] {
    auto c = Resolve();
    return c.ok() ? c->source : std::string(c.status().message());
  };
  EXPECT_EQ(source(), "environment");
  env_.erase("AWS_ACCESS_KEY_ID");
  env_.erase("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(source(), "web identity");
  env_.erase("AWS_WEB_IDENTITY_TOKEN_FILE");
  EXPECT_EQ(source(), "profile default");
  std::filesystem::remove(Home(".aws/credentials"));
  EXPECT_EQ(source(), "container");
  env_.erase("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  EXPECT_EQ(source(), "instance metadata");
  const nlohmann::json counters = fake_->Counters();
  EXPECT_EQ(counters["sts_calls"], 1);
  EXPECT_EQ(counters["container_calls"], 1);
  EXPECT_EQ(counters["imds_credential_calls"], 1);
}

// --- the HTTP client itself ---

TEST(AwsCredentialHttpFetchTest, RejectsBadInputWithoutEchoingHeaderValues) {
  HttpFetchRequest r;
  r.url = "ftp://example.com/";
  EXPECT_EQ(HttpFetch(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.url = "http://127.0.0.1:1/";
  r.headers = {{"Authorization", "line\r\nbreakSecret"}};
  auto out = HttpFetch(r);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()), Not(HasSubstr("breakSecret")));
  EXPECT_EQ(FormEncode("a b/c+d=e&f~"), "a%20b%2Fc%2Bd%3De%26f~");
}

TEST(AwsCredentialHttpFetchTest, HttpsToAPlainServerFailsInTheHandshake) {
  ::ccrelay::testing::FakeAwsMetadata& fake = SharedFake();
  HttpFetchRequest r;
  r.url = "https://127.0.0.1:" + std::to_string(fake.port()) + "/latest/api/token?x=hidden";
  auto out = HttpFetch(r);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("tls handshake"));
  EXPECT_THAT(std::string(out.status().message()), Not(HasSubstr("hidden")));
}

TEST(AwsCredentialHttpFetchTest, HttpsVerifiesTheCertificateAndHostName) {
  std::string error;
  const std::unique_ptr<::ccrelay::testing::TestPki> pki =
      ::ccrelay::testing::TestPki::Create(&error);
  ASSERT_NE(pki, nullptr) << error;
  const auto serve = [](const ::ccrelay::testing::RecordedRequest& request,
                        ::ccrelay::testing::Responder& responder) {
    responder.Respond(200, {{"content-type", "text/plain"}}, "hello " + request.method);
  };
  ::ccrelay::testing::FakeUpstream good(
      {true, pki->localhost().cert_file, pki->localhost().key_file});
  good.SetHandler(serve);
  HttpFetchRequest r;
  r.method = "PUT";
  r.url = "https://localhost:" + std::to_string(good.port()) + "/latest/api/token";
  r.ca_file = pki->ca_file();
  auto out = HttpFetch(r);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->status, 200);
  EXPECT_EQ(out->body, "hello PUT");
  ASSERT_EQ(good.request_count(), 1u);
  EXPECT_EQ(good.requests()[0].target, "/latest/api/token");
  EXPECT_EQ(good.requests()[0].Header("host"), "localhost:" + std::to_string(good.port()));

  // The system store alone does not trust the test CA.
  r.ca_file.clear();
  out = HttpFetch(r);
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("tls handshake"));

  // A certificate for another name is refused.
  ::ccrelay::testing::FakeUpstream wrong(
      {true, pki->wrong_host().cert_file, pki->wrong_host().key_file});
  wrong.SetHandler(serve);
  r.url = "https://localhost:" + std::to_string(wrong.port()) + "/";
  r.ca_file = pki->ca_file();
  out = HttpFetch(r);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("tls handshake"));
  EXPECT_EQ(wrong.request_count(), 0u);
}

}  // namespace
}  // namespace ccrelay::controlplane::aws
