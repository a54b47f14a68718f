// Client authentication (server.auth): each method accepts the right credential, and a rejected
// request gets 401 authentication_error without anything reaching the upstream.
#include <string>

#include "gtest/gtest.h"

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

class AuthTest : public RelayTest {
 public:
  HttpResponse PostWith(const Headers& auth_headers) {
    Headers headers = {{"content-type", "application/json"}, {"anthropic-version", "2023-06-01"}};
    headers.insert(headers.end(), auth_headers.begin(), auth_headers.end());
    return Post("/v1/messages", MessageBody(), headers);
  }
};

TEST_F(AuthTest, ProxyApiKey) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake, {"sk-prov-a1"});
  config.auth.api_key = "proxy-secret-123";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  HttpResponse none = PostWith({});
  EXPECT_EQ(none.status, 401);
  EXPECT_TRUE(IsAnthropicError(none.body, "authentication_error"));
  HttpResponse wrong = PostWith({{"x-api-key", "proxy-secret-124"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(IsAnthropicError(wrong.body, "authentication_error"));
  HttpResponse prefix = PostWith({{"x-api-key", "proxy-secret-12"}});
  EXPECT_EQ(prefix.status, 401);
  EXPECT_EQ(fake.request_count(), 0u) << "a rejected request reached the upstream";

  HttpResponse ok = PostWith({{"x-api-key", "proxy-secret-123"}});
  EXPECT_EQ(ok.status, 200) << ok.error << ok.body;
  ASSERT_EQ(fake.request_count(), 1u);
  // The proxy key stays at the relay; the provider key goes upstream.
  EXPECT_EQ(fake.requests()[0].Header("x-api-key"), "sk-prov-a1");
}

TEST_F(AuthTest, SubscriptionBearerIsAcceptedAndPassedThrough) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake, {});
  config.auth.allow_subscription = true;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  HttpResponse none = PostWith({});
  EXPECT_EQ(none.status, 401);
  EXPECT_TRUE(IsAnthropicError(none.body, "authentication_error"));
  EXPECT_EQ(fake.request_count(), 0u);

  HttpResponse ok = PostWith({{"authorization", "Bearer sk-ant-oat01-abcdef"}});
  EXPECT_EQ(ok.status, 200) << ok.error << ok.body;
  ASSERT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fake.requests()[0].Header("authorization"), "Bearer sk-ant-oat01-abcdef");
}

TEST_F(AuthTest, BearerWithSecret) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake, {"sk-prov-a1"});
  config.auth.allow_bearer = true;
  config.auth.bearer_secret = "team-bearer-secret";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  HttpResponse wrong = PostWith({{"authorization", "Bearer team-bearer-secreT"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_TRUE(IsAnthropicError(wrong.body, "authentication_error"));
  HttpResponse none = PostWith({});
  EXPECT_EQ(none.status, 401);
  HttpResponse as_api_key = PostWith({{"x-api-key", "wrong"}});
  EXPECT_EQ(as_api_key.status, 401);
  EXPECT_EQ(fake.request_count(), 0u);

  HttpResponse ok = PostWith({{"authorization", "Bearer team-bearer-secret"}});
  EXPECT_EQ(ok.status, 200) << ok.error << ok.body;
  ASSERT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fake.requests()[0].Header("x-api-key"), "sk-prov-a1");
  EXPECT_FALSE(fake.requests()[0].HasHeader("authorization"));
}

TEST_F(AuthTest, BearerWithoutSecretAcceptsAnyBearer) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake, {"sk-prov-a1"});
  config.auth.allow_bearer = true;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse none = PostWith({});
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(fake.request_count(), 0u);
  HttpResponse ok = PostWith({{"authorization", "Bearer anything-at-all"}});
  EXPECT_EQ(ok.status, 200) << ok.error << ok.body;
}

TEST_F(AuthTest, SeveralMethodsEachWork) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake, {"sk-prov-a1"});
  config.auth.api_key = "proxy-secret-123";
  config.auth.allow_bearer = true;
  config.auth.bearer_secret = "team-bearer-secret";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  EXPECT_EQ(PostWith({{"x-api-key", "nope"}}).status, 401);
  EXPECT_EQ(PostWith({{"authorization", "Bearer nope"}}).status, 401);
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_EQ(PostWith({{"x-api-key", "proxy-secret-123"}}).status, 200);
  EXPECT_EQ(PostWith({{"authorization", "Bearer team-bearer-secret"}}).status, 200);
  EXPECT_EQ(fake.request_count(), 2u);
}

TEST_F(AuthTest, RejectedStreamingAndCountTokensRequestsNeverReachTheUpstream) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake, {"sk-prov-a1"});
  config.auth.api_key = "proxy-secret-123";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse stream =
      Post("/v1/messages?beta=true", MessageBody("claude-test-1", true), ClientHeaders("wrong"));
  EXPECT_EQ(stream.status, 401);
  EXPECT_TRUE(IsAnthropicError(stream.body, "authentication_error"));
  HttpResponse count = Post("/v1/messages/count_tokens", MessageBody(), ClientHeaders("wrong"));
  EXPECT_EQ(count.status, 401);
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_EQ(fake.connections_accepted(), 0);
}

TEST_F(AuthTest, HealthAndModelsNeedNoCredentials) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake, {"sk-prov-a1"});
  config.auth.api_key = "proxy-secret-123";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  EXPECT_EQ(Get("/health").status, 200);
  EXPECT_EQ(Get("/v1/models").status, 200);
}

}  // namespace
}  // namespace ccrelay::testing
