#include "controlplane/credentials/google_jwt.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

#include "tests/fakes/test_rsa_key.h"

namespace ccrelay::controlplane::gcp {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kEmail[] = "relay@test-project.iam.gserviceaccount.com";
constexpr char kAudience[] = "https://oauth2.googleapis.com/token";
constexpr char kScope[] = "https://www.googleapis.com/auth/cloud-platform";
constexpr int64_t kNow = 1'800'000'000;

// The decoded JSON of one base64url segment of a JWT.
nlohmann::json Segment(const std::string& jwt, int index) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = jwt.find('.'); dot != std::string::npos; dot = jwt.find('.', start)) {
    parts.push_back(jwt.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(jwt.substr(start));
  EXPECT_EQ(parts.size(), 3U) << "a JWT has three segments";
  std::string decoded;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(parts.at(index), &decoded));
  return nlohmann::json::parse(decoded, nullptr, /*allow_exceptions=*/false);
}

const ::ccrelay::testing::TestRsaKey& Key() { return ::ccrelay::testing::SharedTestRsaKey(0); }

ServiceAccountKey Account(std::string private_pem, std::string key_id = "0123456789abcdef") {
  ServiceAccountKey key;
  key.client_email = kEmail;
  key.private_key = common::Secret(std::move(private_pem));
  key.private_key_id = std::move(key_id);
  return key;
}

TEST(GoogleJwtTest, SignedWithTheAccountKeyAndVerifiesWithItsPublicKey) {
  auto jwt = BuildServiceAccountJwt(Account(Key().private_pem), kAudience, kScope, kNow);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  std::string error;
  EXPECT_TRUE(::ccrelay::testing::VerifyRs256Jwt(*jwt, Key().public_pem, &error)) << error;

  const nlohmann::json header = Segment(*jwt, 0);
  EXPECT_EQ(header,
            nlohmann::json({{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "0123456789abcdef"}}));
  const nlohmann::json claims = Segment(*jwt, 1);
  EXPECT_EQ(claims, nlohmann::json({{"iss", kEmail},
                                    {"scope", kScope},
                                    {"aud", kAudience},
                                    {"iat", kNow},
                                    {"exp", kNow + 3600}}));
  // base64url without padding.
  EXPECT_EQ(jwt->find_first_of("=+/"), std::string::npos);
}

TEST(GoogleJwtTest, AnotherKeyDoesNotVerifyIt) {
  const ::ccrelay::testing::TestRsaKey* other = &::ccrelay::testing::SharedTestRsaKey(1);
  auto jwt = BuildServiceAccountJwt(Account(other->private_pem), kAudience, kScope, kNow);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_FALSE(::ccrelay::testing::VerifyRs256Jwt(*jwt, Key().public_pem));
  EXPECT_TRUE(::ccrelay::testing::VerifyRs256Jwt(*jwt, other->public_pem));

  // A claim changed after signing no longer verifies either.
  auto good = BuildServiceAccountJwt(Account(Key().private_pem), kAudience, kScope, kNow);
  ASSERT_TRUE(good.ok());
  auto later = BuildServiceAccountJwt(Account(Key().private_pem), kAudience, kScope, kNow + 1);
  ASSERT_TRUE(later.ok());
  const std::string spliced = later->substr(0, later->rfind('.')) + good->substr(good->rfind('.'));
  EXPECT_FALSE(::ccrelay::testing::VerifyRs256Jwt(spliced, Key().public_pem));
}

TEST(GoogleJwtTest, NoKidWithoutAKeyId) {
  auto jwt = BuildServiceAccountJwt(Account(Key().private_pem, ""), kAudience, kScope, kNow);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_EQ(Segment(*jwt, 0), nlohmann::json({{"alg", "RS256"}, {"typ", "JWT"}}));
}

TEST(GoogleJwtTest, TakesAPkcs1Key) {
  const std::string pkcs1 = ::ccrelay::testing::RewritePrivateKeyPem(
      Key().private_pem, ::ccrelay::testing::PemForm::kPkcs1);
  ASSERT_THAT(pkcs1, HasSubstr("BEGIN RSA PRIVATE KEY"));
  auto jwt = BuildServiceAccountJwt(Account(pkcs1), kAudience, kScope, kNow);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_TRUE(::ccrelay::testing::VerifyRs256Jwt(*jwt, Key().public_pem));
}

TEST(GoogleJwtTest, RefusesWhatIsNotAnRsaPrivateKeyWithoutQuotingIt) {
  const std::string garbage =
      "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
  auto jwt = BuildServiceAccountJwt(Account(garbage), kAudience, kScope, kNow);
  ASSERT_FALSE(jwt.ok());
  EXPECT_EQ(jwt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(jwt.status().message(), HasSubstr(kEmail));
  EXPECT_THAT(jwt.status().message(), HasSubstr("private_key"));
  EXPECT_THAT(jwt.status().message(), Not(HasSubstr("bm90IGEga2V5")));

  EXPECT_FALSE(BuildServiceAccountJwt(Account(""), kAudience, kScope, kNow).ok());

  auto not_rsa = BuildServiceAccountJwt(Account(::ccrelay::testing::EcPrivateKeyPem()), kAudience,
                                        kScope, kNow);
  ASSERT_FALSE(not_rsa.ok());
  EXPECT_THAT(not_rsa.status().message(), HasSubstr("not an RSA key"));
}

TEST(GoogleJwtTest, AnEncryptedKeyFailsInsteadOfPrompting) {
  const std::string encrypted = ::ccrelay::testing::RewritePrivateKeyPem(
      Key().private_pem, ::ccrelay::testing::PemForm::kEncryptedPkcs8);
  ASSERT_THAT(encrypted, HasSubstr("ENCRYPTED PRIVATE KEY"));
  auto jwt = BuildServiceAccountJwt(Account(encrypted), kAudience, kScope, kNow);
  ASSERT_FALSE(jwt.ok());
  EXPECT_EQ(jwt.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ccrelay::controlplane::gcp
