// Failover before the first byte, key rotation on 429, the answer when every attempt failed, and
// how keys of one provider are spread.
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

class FailoverTest : public RelayTest {
 public:
  RelayConfig TwoProviders(const FakeUpstream& a, const FakeUpstream& b) {
    RelayConfig config;
    config.providers = {ProviderFor("a", a, {"sk-prov-a1"}), ProviderFor("b", b, {"sk-prov-b1"})};
    return config;
  }
};

class FailoverStatusTest : public FailoverTest, public ::testing::WithParamInterface<int> {};

TEST_P(FailoverStatusTest, RetryableStatusMovesToTheNextProvider) {
  const int status = GetParam();
  FakeUpstream first;
  FakeUpstream second;
  first.SetHandler(JsonScript(status, AnthropicErrorJson("api_error", "upstream says no")));
  ASSERT_NO_FATAL_FAILURE(StartRelay(TwoProviders(first, second)));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "b");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
  EXPECT_EQ(resp.Header("x-cc-relay-key"), common::FingerprintOf("sk-prov-b1"));
  EXPECT_EQ(first.request_count(), 1u);
  ASSERT_EQ(second.request_count(), 1u);
  EXPECT_EQ(second.requests()[0].body, MessageBody());
  EXPECT_EQ(second.requests()[0].Header("x-api-key"), "sk-prov-b1");
}

INSTANTIATE_TEST_SUITE_P(Statuses, FailoverStatusTest, ::testing::Values(500, 502, 503, 504, 529));

TEST_F(FailoverTest, ConnectionRefusedMovesToTheNextProvider) {
  FakeUpstream second;
  RelayConfig config;
  config.providers = {{.name = "a",
                       .base_url = "http://127.0.0.1:" + std::to_string(UnusedPort()),
                       .keys = {{.key = "sk-prov-a1"}}},
                      ProviderFor("b", second, {"sk-prov-b1"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "b");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
  EXPECT_EQ(second.request_count(), 1u);
}

TEST_F(FailoverTest, ConnectionResetBeforeAnswerMovesToTheNextProvider) {
  FakeUpstream first;
  FakeUpstream second;
  first.SetHandler(ResetScript());
  ASSERT_NO_FATAL_FAILURE(StartRelay(TwoProviders(first, second)));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "b");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
}

TEST_F(FailoverTest, FirstByteTimeoutMovesToTheNextProvider) {
  FakeUpstream first;
  FakeUpstream second;
  first.SetHandler([](const RecordedRequest&, Responder& r) {
    r.WaitForPeerClose(milliseconds(8000));  // never answers
  });
  RelayConfig config = TwoProviders(first, second);
  config.timeouts.first_byte_ms = 400;
  config.timeouts.first_byte_non_stream_ms = 400;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "b");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
  // The abandoned attempt's connection is closed, not left hanging.
  ASSERT_TRUE(first.WaitForOutcome(0, milliseconds(5000)));
  EXPECT_TRUE(first.outcomes()[0].peer_closed_early);
}

TEST_F(FailoverTest, RateLimitedKeyMovesToAnotherKeyOfTheSameProvider) {
  FakeUpstream first;
  FakeUpstream second;
  first.EnqueueHandler(RateLimitedScript(30));
  RelayConfig config;
  config.providers = {ProviderFor("a", first, {"sk-prov-a1", "sk-prov-a2"}),
                      ProviderFor("b", second, {"sk-prov-b1"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "a");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
  ASSERT_EQ(first.request_count(), 2u);
  EXPECT_EQ(second.request_count(), 0u);
  const auto reqs = first.requests();
  const std::string k1 = reqs[0].Header("x-api-key").value_or("");
  const std::string k2 = reqs[1].Header("x-api-key").value_or("");
  EXPECT_NE(k1, k2) << "retried the rate-limited key";
  EXPECT_TRUE(k2 == "sk-prov-a1" || k2 == "sk-prov-a2") << k2;
  EXPECT_EQ(resp.Header("x-cc-relay-key"), common::FingerprintOf(k2));
}

TEST_F(FailoverTest, RateLimitedSingleKeyProviderMovesToTheNextProvider) {
  FakeUpstream first;
  FakeUpstream second;
  first.SetHandler(RateLimitedScript(30));
  ASSERT_NO_FATAL_FAILURE(StartRelay(TwoProviders(first, second)));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "b");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
  EXPECT_EQ(first.request_count(), 1u);
  EXPECT_EQ(second.request_count(), 1u);
}

TEST_F(FailoverTest, RateLimitedEverywhereReturnsThe429WithRetryAfter) {
  FakeUpstream only;
  only.SetHandler(RateLimitedScript(17));
  RelayConfig config = OneProvider(only, {"sk-prov-a1"});
  config.max_attempts = 1;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 429) << resp.error;
  EXPECT_EQ(resp.Header("retry-after"), "17");
  EXPECT_EQ(resp.body,
            AnthropicErrorJson("rate_limit_error", "Number of requests exceeded", "req_fake_429"));
}

TEST_F(FailoverTest, EveryAttemptFailedReturnsTheLastUpstreamAnswerVerbatim) {
  FakeUpstream first;
  FakeUpstream second;
  first.SetHandler(OverloadedScript());
  const std::string last_body =
      AnthropicErrorJson("api_error", "Service temporarily unavailable", "req_b_503");
  second.SetHandler(JsonScript(503, last_body,
                               {{"request-id", "req_b_503"},
                                {"retry-after", "7"},
                                {"anthropic-ratelimit-requests-remaining", "0"}}));
  RelayConfig config = TwoProviders(first, second);
  config.max_attempts = 2;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 503) << resp.error;
  EXPECT_EQ(resp.body, last_body);
  EXPECT_EQ(resp.Header("request-id"), "req_b_503");
  EXPECT_EQ(resp.Header("retry-after"), "7");
  EXPECT_EQ(resp.Header("anthropic-ratelimit-requests-remaining"), "0");
  EXPECT_EQ(resp.Header("content-type"), "application/json");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
  EXPECT_EQ(first.request_count(), 1u);
  EXPECT_EQ(second.request_count(), 1u);
}

TEST_F(FailoverTest, MaxAttemptsBoundsTheCandidatesTried) {
  FakeUpstream a;
  FakeUpstream b;
  FakeUpstream c;
  a.SetHandler(OverloadedScript());
  b.SetHandler(OverloadedScript());
  RelayConfig config;
  config.providers = {ProviderFor("a", a, {"sk-prov-a1"}), ProviderFor("b", b, {"sk-prov-b1"}),
                      ProviderFor("c", c, {"sk-prov-c1"})};
  config.max_attempts = 2;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 529) << resp.error << resp.body;
  EXPECT_TRUE(IsAnthropicError(resp.body, "overloaded_error"));
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
  EXPECT_EQ(a.request_count(), 1u);
  EXPECT_EQ(b.request_count(), 1u);
  EXPECT_EQ(c.request_count(), 0u);
}

TEST_F(FailoverTest, AllConnectionsRefusedGives502ApiError) {
  RelayConfig config;
  config.providers = {{.name = "a",
                       .base_url = "http://127.0.0.1:" + std::to_string(UnusedPort()),
                       .keys = {{.key = "sk-prov-a1"}}},
                      {.name = "b",
                       .base_url = "http://127.0.0.1:" + std::to_string(UnusedPort()),
                       .keys = {{.key = "sk-prov-b1"}}}};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 502) << resp.error;
  EXPECT_TRUE(IsAnthropicError(resp.body, "api_error"));
  EXPECT_TRUE(resp.Header("x-cc-relay-request-id").has_value());
}

TEST_F(FailoverTest, TimeoutOnLastAttemptGives504TimeoutError) {
  FakeUpstream slow;
  slow.SetHandler(
      [](const RecordedRequest&, Responder& r) { r.WaitForPeerClose(milliseconds(8000)); });
  RelayConfig config = OneProvider(slow);
  config.max_attempts = 1;
  config.timeouts.first_byte_ms = 300;
  config.timeouts.first_byte_non_stream_ms = 300;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 504) << resp.error;
  EXPECT_TRUE(IsAnthropicError(resp.body, "timeout_error"));
}

TEST_F(FailoverTest, BothKeysOfATwoKeyProviderGetUsed) {
  FakeUpstream fake;
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-prov-a1", "sk-prov-a2"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  std::map<std::string, int> uses;
  constexpr int kRequests = 6;
  for (int i = 0; i < kRequests; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
    const auto reqs = fake.requests();
    ASSERT_EQ(reqs.size(), static_cast<size_t>(i + 1));
    const std::string key = reqs.back().Header("x-api-key").value_or("");
    EXPECT_EQ(resp.Header("x-cc-relay-key"), common::FingerprintOf(key));
    ++uses[key];
  }
  EXPECT_EQ(uses.size(), 2u);
  EXPECT_EQ(uses["sk-prov-a1"], kRequests / 2);
  EXPECT_EQ(uses["sk-prov-a2"], kRequests / 2);
}

TEST_F(FailoverTest, KeyWeightsSkewTheSpread) {
  FakeUpstream fake;
  RelayConfig config;
  config.providers = {ProviderFor("a", fake)};
  config.providers[0].keys = {{.key = "sk-heavy", .weight = 3}, {.key = "sk-light", .weight = 1}};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  std::map<std::string, int> uses;
  constexpr int kRequests = 8;
  for (int i = 0; i < kRequests; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
  }
  for (const auto& req : fake.requests()) {
    ++uses[req.Header("x-api-key").value_or("")];
  }
  EXPECT_EQ(uses["sk-heavy"], 6);
  EXPECT_EQ(uses["sk-light"], 2);
}

}  // namespace
}  // namespace ccrelay::testing
