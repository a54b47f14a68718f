#include "dataplane/auth/authenticator.h"

#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace ccrelay::auth {
namespace {

constexpr std::string_view kApiKey = "proxy-key-0123456789";
constexpr std::string_view kBearerSecret = "bearer-secret-abcdef";

AuthSettings ApiKeyOnly() {
  AuthSettings s;
  s.api_key = common::Secret(std::string(kApiKey));
  return s;
}

AuthSettings SubscriptionOnly() {
  AuthSettings s;
  s.allow_subscription = true;
  return s;
}

AuthSettings BearerWithSecret() {
  AuthSettings s;
  s.allow_bearer = true;
  s.bearer_secret = common::Secret(std::string(kBearerSecret));
  return s;
}

AuthSettings All() {
  AuthSettings s = ApiKeyOnly();
  s.allow_subscription = true;
  s.allow_bearer = true;
  return s;
}

void ExpectRejected(const AuthResult& r, std::string_view message) {
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.message, message);
  // Never echoes a secret or what was presented.
  EXPECT_EQ(r.message.find(kApiKey), std::string::npos);
  EXPECT_EQ(r.message.find(kBearerSecret), std::string::npos);
  EXPECT_EQ(r.message.find("wrong"), std::string::npos);
}

TEST(AuthenticatorTest, OpenWhenNothingConfigured) {
  AuthSettings s;
  ASSERT_TRUE(s.open());
  for (auto [key, auth] : {std::pair<std::string_view, std::string_view>{"", ""},
                           {"anything", "Bearer x"},
                           {"", "Basic abc"}}) {
    const AuthResult r = Authenticate(s, key, auth);
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.method, AuthMethod::kOpen);
  }
  // allow_bearer alone is not open, even without a secret.
  s.allow_bearer = true;
  EXPECT_FALSE(s.open());
}

TEST(AuthenticatorTest, ApiKeyAccepted) {
  const AuthResult r = Authenticate(ApiKeyOnly(), kApiKey, "");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.method, AuthMethod::kApiKey);
  EXPECT_EQ(r.message, "");
}

TEST(AuthenticatorTest, ApiKeyWrongOrMissing) {
  ExpectRejected(Authenticate(ApiKeyOnly(), "wrong-key", ""), "invalid x-api-key");
  ExpectRejected(Authenticate(ApiKeyOnly(), std::string(kApiKey) + "x", ""), "invalid x-api-key");
  ExpectRejected(Authenticate(ApiKeyOnly(), kApiKey.substr(1), ""), "invalid x-api-key");
  ExpectRejected(Authenticate(ApiKeyOnly(), "", ""), "missing x-api-key header");
  // The api_key method reads x-api-key only, not a bearer token carrying the same value.
  ExpectRejected(Authenticate(ApiKeyOnly(), "", "Bearer " + std::string(kApiKey)),
                 "missing x-api-key header");
}

TEST(AuthenticatorTest, SubscriptionAcceptsAnyBearerToken) {
  for (std::string_view auth :
       {"Bearer sk-ant-oat01-abc", "bearer t", "BEARER t", "Bearer   tok "}) {
    const AuthResult r = Authenticate(SubscriptionOnly(), "", auth);
    EXPECT_TRUE(r.ok) << auth;
    EXPECT_EQ(r.method, AuthMethod::kSubscription) << auth;
  }
  ExpectRejected(Authenticate(SubscriptionOnly(), "", ""), "missing Authorization bearer token");
  ExpectRejected(Authenticate(SubscriptionOnly(), "", "Bearer "),
                 "missing Authorization bearer token");
  ExpectRejected(Authenticate(SubscriptionOnly(), "", "Basic dXNlcjpwYXNz"),
                 "missing Authorization bearer token");
  ExpectRejected(Authenticate(SubscriptionOnly(), "some-key", ""),
                 "missing Authorization bearer token");
}

TEST(AuthenticatorTest, BearerWithSecret) {
  AuthResult r = Authenticate(BearerWithSecret(), "", "Bearer " + std::string(kBearerSecret));
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.method, AuthMethod::kBearer);
  r = Authenticate(BearerWithSecret(), "", "bEaReR\t" + std::string(kBearerSecret) + "  ");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.method, AuthMethod::kBearer);
  ExpectRejected(Authenticate(BearerWithSecret(), "", "Bearer wrong"), "invalid bearer token");
  ExpectRejected(Authenticate(BearerWithSecret(), "", "Bearer " + std::string(kBearerSecret) + "x"),
                 "invalid bearer token");
  ExpectRejected(Authenticate(BearerWithSecret(), std::string(kBearerSecret), ""),
                 "missing Authorization bearer token");
}

TEST(AuthenticatorTest, BearerWithoutSecretAcceptsAnyToken) {
  AuthSettings s;
  s.allow_bearer = true;
  const AuthResult r = Authenticate(s, "", "Bearer whatever");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.method, AuthMethod::kBearer);
  ExpectRejected(Authenticate(s, "", "Basic x"), "missing Authorization bearer token");
}

TEST(AuthenticatorTest, OrderApiKeyThenSubscriptionThenBearer) {
  const AuthSettings s = All();
  AuthResult r = Authenticate(s, kApiKey, "Bearer tok");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.method, AuthMethod::kApiKey);
  r = Authenticate(s, "", "Bearer tok");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.method, AuthMethod::kSubscription);
  AuthSettings no_subscription = s;
  no_subscription.allow_subscription = false;
  r = Authenticate(no_subscription, "", "Bearer tok");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.method, AuthMethod::kBearer);
}

TEST(AuthenticatorTest, AnyConfiguredMethodMayAccept) {
  // A wrong x-api-key does not stop a valid bearer token.
  AuthSettings s = ApiKeyOnly();
  s.allow_bearer = true;
  s.bearer_secret = common::Secret(std::string(kBearerSecret));
  AuthResult r = Authenticate(s, "wrong-key", "Bearer " + std::string(kBearerSecret));
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.method, AuthMethod::kBearer);
  // And a wrong bearer token does not stop a valid x-api-key.
  r = Authenticate(s, kApiKey, "Bearer wrong");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.method, AuthMethod::kApiKey);
}

TEST(AuthenticatorTest, FailureMessagesWithSeveralMethods) {
  AuthSettings s = ApiKeyOnly();
  s.allow_bearer = true;
  s.bearer_secret = common::Secret(std::string(kBearerSecret));
  ExpectRejected(Authenticate(s, "", ""), "missing x-api-key header or Authorization bearer token");
  ExpectRejected(Authenticate(s, "wrong-key", ""), "invalid x-api-key");
  ExpectRejected(Authenticate(s, "", "Bearer wrong"), "invalid bearer token");
  ExpectRejected(Authenticate(s, "wrong-key", "Bearer wrong"),
                 "invalid x-api-key and bearer token");
  ExpectRejected(Authenticate(All(), "", "Basic abc"),
                 "missing x-api-key header or Authorization bearer token");
}

TEST(AuthenticatorTest, BearerToken) {
  EXPECT_EQ(BearerToken("Bearer tok"), "tok");
  EXPECT_EQ(BearerToken("Bearer   tok "), "tok");
  EXPECT_EQ(BearerToken("bearer tok"), "tok");
  EXPECT_EQ(BearerToken("BEARER\ttok"), "tok");
  EXPECT_EQ(BearerToken("  Bearer tok"), "tok");
  EXPECT_EQ(BearerToken("Bearer a.b-c_d~e+f/g="), "a.b-c_d~e+f/g=");
  EXPECT_EQ(BearerToken("Basic x"), "");
  EXPECT_EQ(BearerToken("Bearer"), "");
  EXPECT_EQ(BearerToken("Bearer "), "");
  EXPECT_EQ(BearerToken("Bearertok"), "");
  EXPECT_EQ(BearerToken("Bear tok"), "");
  EXPECT_EQ(BearerToken(""), "");
}

}  // namespace
}  // namespace ccrelay::auth
