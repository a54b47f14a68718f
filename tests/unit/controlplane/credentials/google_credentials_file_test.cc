#include "controlplane/credentials/google_credentials_file.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/fakes/temp_dir.h"

namespace ccrelay::controlplane::gcp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPath[] = "/etc/cc-relay/sa.json";
constexpr char kPem[] =
    "-----BEGIN PRIVATE "
    "KEY-----\\nbm90IGEgcmVhbCBrZXksIGEgdGVzdCBmaXh0dXJl\\n-----END "
    "PRIVATE KEY-----\\n";

std::string ServiceAccountJson(const std::string& extra = "") {
  return std::string(R"({"type": "service_account", "project_id": "test-project",
      "private_key_id": "abc123", "private_key": ")") +
         kPem + R"(", "client_email": "relay@test-project.iam.gserviceaccount.com",
      "client_id": "1234", "token_uri": "https://oauth2.googleapis.com/token")" +
         extra + "}";
}

TEST(GoogleCredentialsFileTest, ParsesAServiceAccountKey) {
  auto f = ParseGoogleCredentialsFile(ServiceAccountJson(), kPath);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->type, GoogleCredentialsFile::Type::kServiceAccount);
  const ServiceAccountKey& key = f->service_account;
  EXPECT_EQ(key.client_email, "relay@test-project.iam.gserviceaccount.com");
  EXPECT_EQ(key.private_key_id, "abc123");
  EXPECT_EQ(key.project_id, "test-project");
  EXPECT_EQ(key.token_uri, "https://oauth2.googleapis.com/token");
  EXPECT_THAT(std::string(key.private_key.Reveal()), HasSubstr("BEGIN PRIVATE KEY-----\n"));
}

TEST(GoogleCredentialsFileTest, ParsesAnAuthorizedUser) {
  auto f = ParseGoogleCredentialsFile(
      R"({"type": "authorized_user", "client_id": "000000000000-abc.apps.googleusercontent.com",
          "client_secret": "fake-client-secret-for-tests", "refresh_token": "1//0gSECRETREFRESH",
          "quota_project_id": "billing-project", "universe_domain": "googleapis.com"})",
      kPath);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->type, GoogleCredentialsFile::Type::kAuthorizedUser);
  const AuthorizedUser& user = f->authorized_user;
  EXPECT_EQ(user.client_id, "000000000000-abc.apps.googleusercontent.com");
  EXPECT_EQ(user.client_secret.Reveal(), "fake-client-secret-for-tests");
  EXPECT_EQ(user.refresh_token.Reveal(), "1//0gSECRETREFRESH");
  EXPECT_EQ(user.quota_project_id, "billing-project");
  EXPECT_EQ(user.token_uri, "");
}

TEST(GoogleCredentialsFileTest, OtherTypesAreUnsupportedByName) {
  for (const char* type : {"external_account", "impersonated_service_account",
                           "external_account_authorized_user", "gdch_service_account"}) {
    auto f = ParseGoogleCredentialsFile(
        std::string(R"({"type": ")") + type + R"(", "audience": "x", "subject_token_type": "y"})",
        kPath);
    ASSERT_FALSE(f.ok()) << type;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kUnimplemented) << type;
    EXPECT_THAT(f.status().message(), HasSubstr(kPath));
    EXPECT_THAT(f.status().message(), HasSubstr(std::string("\"") + type + "\""));
    EXPECT_THAT(f.status().message(), HasSubstr("not supported"));
  }
}

TEST(GoogleCredentialsFileTest, ParseErrorsNameTheFileAndTheField) {
  struct Case {
    std::string json;
    std::string want;
  };
  const Case cases[] = {
      {"not json", "not a JSON object"},
      {"[1, 2]", "not a JSON object"},
      {R"({"client_email": "a@b"})", "no \"type\""},
      {R"({"type": "service_account", "private_key": "x"})", "missing \"client_email\""},
      {R"({"type": "service_account", "client_email": "a@b"})", "missing \"private_key\""},
      {R"({"type": "service_account", "client_email": "a@b", "private_key": ""})",
       "\"private_key\" is empty"},
      {R"({"type": "authorized_user", "client_secret": "s", "refresh_token": "r"})",
       "missing \"client_id\""},
      {R"({"type": "authorized_user", "client_id": "c", "refresh_token": "r"})",
       "missing \"client_secret\""},
      {R"({"type": "authorized_user", "client_id": "c", "client_secret": "s"})",
       "missing \"refresh_token\""},
  };
  for (const Case& c : cases) {
    auto f = ParseGoogleCredentialsFile(c.json, kPath);
    ASSERT_FALSE(f.ok()) << c.json;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(f.status().message(), HasSubstr(kPath)) << c.json;
    EXPECT_THAT(f.status().message(), HasSubstr(c.want)) << c.json;
  }
}

TEST(GoogleCredentialsFileTest, ASecretFieldOfTheWrongTypeIsNotQuoted) {
  auto f = ParseGoogleCredentialsFile(
      R"({"type": "authorized_user", "client_id": "c", "client_secret": ["s3cr3t-value"],
          "refresh_token": {"t": "1//r3fr3sh-value"}})",
      kPath);
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("\"client_secret\" is not a string (array)"));
  EXPECT_THAT(f.status().message(), Not(HasSubstr("s3cr3t-value")));

  // A truncated file: the parser's position or excerpt is not echoed either.
  auto cut = ParseGoogleCredentialsFile(ServiceAccountJson().substr(0, 150), kPath);
  ASSERT_FALSE(cut.ok());
  EXPECT_THAT(cut.status().message(), Not(HasSubstr("TUlJRXZR")));
}

TEST(GoogleCredentialsFileTest, ReadsFilesAndSaysWhenOneIsMissing) {
  ::ccrelay::testing::TempDir dir;
  const std::string path = dir.WriteFile("sa.json", ServiceAccountJson());
  auto f = ReadGoogleCredentialsFile(path);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->service_account.private_key_id, "abc123");

  auto missing = ReadGoogleCredentialsFile(dir.path() + "/nope.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir.path() + "/nope.json"));

  auto not_a_dir = ReadGoogleCredentialsFile(path + "/inside.json");
  EXPECT_EQ(not_a_dir.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ccrelay::controlplane::gcp
