// Key pools through the real relay: a 429 is absorbed by another key and the key cools down, an
// exhausted pool answers 429 with retry-after without touching the upstream, breakers open and
// close, sessions stick to one key, a rejected key is taken out, and rate-limit headers steer
// selection before a key runs out.
#include <array>
#include <chrono>
#include <ctime>
#include <map>
#include <set>
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

// The x-api-key the upstream saw on each request, in order.
std::vector<std::string> KeysSeen(const FakeUpstream& fake) {
  std::vector<std::string> out;
  for (const auto& r : fake.requests()) {
    out.push_back(r.Header("x-api-key").value_or(""));
  }
  return out;
}

// Answers like MessageScript, but lets the test pick per key: `special` gets `handler`.
Handler PerKey(std::string special, Handler handler) {
  Handler normal = MessageScript();
  return [special = std::move(special), handler = std::move(handler), normal = std::move(normal)](
             const RecordedRequest& req, Responder& r) {
    if (req.Header("x-api-key") == special) {
      handler(req, r);
    } else {
      normal(req, r);
    }
  };
}

// An RFC 3339 UTC time `seconds` from now (wall clock: the relay compares with its own).
std::string Rfc3339FromNow(int seconds) {
  const std::time_t t = std::time(nullptr) + seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

Headers SessionHeaders(const std::string& session) {
  Headers h = ClientHeaders();
  h.emplace_back("X-Claude-Code-Session-Id", session);
  return h;
}

class KeyPoolTest : public RelayTest {};

TEST_F(KeyPoolTest, RateLimitOnAKeyNeverReachesTheClientAndTheKeyCools) {
  FakeUpstream fake;
  fake.EnqueueHandler(RateLimitedScript(30));
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-pool-1", "sk-pool-2"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse first = Post("/v1/messages", MessageBody());
  ASSERT_EQ(first.status, 200) << first.error << first.body;
  EXPECT_EQ(first.Header("x-cc-relay-attempts"), "2");
  const std::vector<std::string> seen = KeysSeen(fake);
  ASSERT_EQ(seen.size(), 2u);
  const std::string& cooled = seen[0];
  const std::string& other = seen[1];
  EXPECT_NE(cooled, other);
  EXPECT_EQ(first.Header("x-cc-relay-key"), common::FingerprintOf(other));
  EXPECT_EQ(first.Header("x-cc-relay-keys-total"), "2");
  EXPECT_EQ(first.Header("x-cc-relay-keys-available"), "1") << "the other key is cooling";
  // Later requests skip the cooling key (retry-after 30 s) without trying it first.
  for (int i = 0; i < 4; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error;
    EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "1");
    EXPECT_EQ(resp.Header("x-cc-relay-key"), common::FingerprintOf(other));
  }
  EXPECT_EQ(fake.request_count(), 6u);
  // Log lines reach the test through a pipe: wait for them.
  const std::vector<std::string> cooldown = {"key_cooldown", "provider=a",
                                             "key=" + common::FingerprintOf(cooled)};
  EXPECT_TRUE(relay().WaitForLogLines(cooldown, 1, milliseconds(2000)));
  EXPECT_EQ(relay().LogLinesWith(cooldown).size(), 1u);
}

TEST_F(KeyPoolTest, ExhaustedPoolAnswers429WithRetryAfterAndSendsNothingUpstream) {
  FakeUpstream fake;
  RelayConfig config;
  config.providers = {ProviderFor("a", fake)};
  // 2 and 3 requests a minute: 5 requests, then one request every 30 s or 20 s.
  config.providers[0].keys = {{.key = "sk-slow", .rpm_limit = 2},
                              {.key = "sk-fast", .rpm_limit = 3}};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  for (int i = 0; i < 5; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << i << ": " << resp.error << resp.body;
  }
  EXPECT_EQ(fake.request_count(), 5u);
  HttpResponse limited = Post("/v1/messages", MessageBody());
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_TRUE(IsAnthropicError(limited.body, "rate_limit_error")) << limited.body;
  // The first key with headroom again is sk-fast, in (just under) 20 s, rounded up.
  EXPECT_EQ(limited.Header("retry-after"), "20");
  EXPECT_EQ(limited.Header("x-cc-relay-attempts"), "0");
  EXPECT_TRUE(limited.Header("request-id").has_value());
  EXPECT_EQ(fake.request_count(), 5u) << "nothing was sent upstream";
  // Streaming requests get the same answer (before any byte of a stream).
  HttpResponse stream = Post("/v1/messages", MessageBody("claude-test-1", true));
  EXPECT_EQ(stream.status, 429);
  EXPECT_EQ(fake.request_count(), 5u);
}

TEST_F(KeyPoolTest, BreakerOpensOnFailuresAndClosesAfterRecovery) {
  FakeUpstream a;
  FakeUpstream b;
  a.SetHandler(InternalErrorScript());
  RelayConfig config;
  config.providers = {ProviderFor("a", a, {"sk-prov-a1"}), ProviderFor("b", b, {"sk-prov-b1"})};
  config.health_yaml =
      "  circuit_breaker:\n"
      "    failure_threshold: 3\n"
      "    open_ms: 300\n";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  for (int i = 0; i < 3; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error;
    EXPECT_EQ(resp.Header("x-cc-relay-provider"), "b");
    EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
  }
  ASSERT_EQ(a.request_count(), 3u);
  EXPECT_TRUE(relay().WaitForLogLines({"circuit_opened", "scope=provider", "provider=a"}, 1,
                                      milliseconds(2000)));
  // Open: the primary is skipped, not tried first.
  HttpResponse skipped = Post("/v1/messages", MessageBody());
  EXPECT_EQ(skipped.Header("x-cc-relay-provider"), "b");
  EXPECT_EQ(skipped.Header("x-cc-relay-attempts"), "1");
  EXPECT_EQ(a.request_count(), 3u);

  // The upstream recovers; after open_ms one probe goes to it and closes the breaker.
  a.SetHandler(MessageScript());
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(10000);
  while (a.request_count() == 3u && std::chrono::steady_clock::now() < deadline) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error;
  }
  ASSERT_EQ(a.request_count(), 4u) << "no probe reached the recovered provider";
  EXPECT_TRUE(relay().WaitForLog("circuit_closed scope=provider provider=a", milliseconds(2000)));
  for (int i = 0; i < 3; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    EXPECT_EQ(resp.Header("x-cc-relay-provider"), "a");
    EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "1");
  }
}

TEST_F(KeyPoolTest, OneSessionStaysOnOneKeyDifferentSessionsSpread) {
  FakeUpstream fake;
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-pool-1", "sk-pool-2", "sk-pool-3"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  std::set<std::string> one_session;
  for (int i = 0; i < 20; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody(), SessionHeaders("session-one"));
    ASSERT_EQ(resp.status, 200) << resp.error;
    one_session.insert(resp.Header("x-cc-relay-key").value_or(""));
  }
  EXPECT_EQ(one_session.size(), 1u);
  std::set<std::string> upstream_keys;
  for (const std::string& k : KeysSeen(fake)) {
    upstream_keys.insert(k);
  }
  EXPECT_EQ(upstream_keys.size(), 1u);

  std::map<std::string, int> spread;
  for (int i = 0; i < 30; ++i) {
    HttpResponse resp =
        Post("/v1/messages", MessageBody(), SessionHeaders("session-" + std::to_string(i)));
    ASSERT_EQ(resp.status, 200) << resp.error;
    ++spread[resp.Header("x-cc-relay-key").value_or("")];
  }
  EXPECT_EQ(spread.size(), 3u) << "different sessions use every key";
}

TEST_F(KeyPoolTest, SessionFromMetadataUserIdSticksToo) {
  FakeUpstream fake;
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-pool-1", "sk-pool-2"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const std::string body =
      R"({"model":"claude-test-1","max_tokens":16,"metadata":{"user_id":)"
      R"("user_abc_account_0000_session_5f0c3b5e-1111-2222-3333-444455556666"},)"
      R"("messages":[{"role":"user","content":"hi"}]})";
  std::set<std::string> keys;
  for (int i = 0; i < 6; ++i) {
    HttpResponse resp = Post("/v1/messages", body);
    ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
    keys.insert(resp.Header("x-cc-relay-key").value_or(""));
  }
  EXPECT_EQ(keys.size(), 1u);
}

TEST_F(KeyPoolTest, AffinityCanBeTurnedOff) {
  FakeUpstream fake;
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-pool-1", "sk-pool-2"})};
  config.routing_yaml = "  session_affinity: false\n";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  std::set<std::string> keys;
  for (int i = 0; i < 4; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody(), SessionHeaders("session-one"));
    ASSERT_EQ(resp.status, 200) << resp.error;
    keys.insert(resp.Header("x-cc-relay-key").value_or(""));
  }
  EXPECT_EQ(keys.size(), 2u);
}

TEST_F(KeyPoolTest, KeyAnswering401IsTakenOutAndLoggedOnce) {
  FakeUpstream fake;
  fake.SetHandler(PerKey("sk-revoked", JsonScript(401, AnthropicErrorJson("authentication_error",
                                                                          "invalid x-api-key"))));
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-revoked", "sk-good"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  for (int i = 0; i < 6; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << i << ": " << resp.error << resp.body;
    EXPECT_EQ(resp.Header("x-cc-relay-key"), common::FingerprintOf("sk-good"));
  }
  size_t revoked_uses = 0;
  for (const std::string& k : KeysSeen(fake)) {
    revoked_uses += k == "sk-revoked" ? 1 : 0;
  }
  EXPECT_EQ(revoked_uses, 1u) << "a rejected key is not used again";
  const std::vector<std::string> disabled = {"key_disabled",
                                             "key=" + common::FingerprintOf("sk-revoked")};
  EXPECT_TRUE(relay().WaitForLogLines(disabled, 1, milliseconds(2000)));
  const auto lines = relay().LogLinesWith(disabled);
  ASSERT_EQ(lines.size(), 1u) << relay().log();
  EXPECT_NE(lines[0].find("status=401"), std::string::npos) << lines[0];
  EXPECT_EQ(relay().log().find("sk-revoked"), std::string::npos)
      << "the key itself is never logged";
  HttpResponse after = Post("/v1/messages", MessageBody());
  EXPECT_EQ(after.Header("x-cc-relay-keys-available"), "1");
  EXPECT_EQ(after.Header("x-cc-relay-keys-total"), "2");
}

TEST_F(KeyPoolTest, EveryKeyRejectedGives503AfterTheLastOne) {
  FakeUpstream fake;
  fake.SetHandler(JsonScript(403, AnthropicErrorJson("permission_error", "no access")));
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-bad-1", "sk-bad-2"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse first = Post("/v1/messages", MessageBody());
  EXPECT_EQ(first.status, 403) << "the last upstream answer, verbatim";
  EXPECT_EQ(fake.request_count(), 2u);
  HttpResponse next = Post("/v1/messages", MessageBody());
  EXPECT_EQ(next.status, 503);
  EXPECT_TRUE(IsAnthropicError(next.body, "api_error")) << next.body;
  EXPECT_EQ(fake.request_count(), 2u);
}

TEST_F(KeyPoolTest, RemainingZeroUntilResetSendsTheNextRequestToTheOtherKey) {
  FakeUpstream fake;
  const std::string reset = Rfc3339FromNow(30);
  fake.SetHandler(PerKey("sk-drained", [reset](const RecordedRequest&, Responder& r) {
    Headers h = {{"content-type", "application/json"},
                 {"anthropic-ratelimit-requests-limit", "50"},
                 {"anthropic-ratelimit-requests-remaining", "0"},
                 {"anthropic-ratelimit-requests-reset", reset}};
    r.Respond(200, h, AnthropicMessageJson("claude-test-1", "last one"));
  }));
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-drained", "sk-fresh"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  // Until the drained key has served once (the rotation reaches it within two requests).
  int sent = 0;
  while (sent < 2) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error;
    ++sent;
    if (resp.Header("x-cc-relay-key") == common::FingerprintOf("sk-drained")) {
      break;
    }
  }
  for (int i = 0; i < 5; ++i) {
    HttpResponse resp = Post("/v1/messages", MessageBody());
    ASSERT_EQ(resp.status, 200) << resp.error;
    EXPECT_EQ(resp.Header("x-cc-relay-key"), common::FingerprintOf("sk-fresh"));
    EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "1") << "skipped, not tried and failed";
  }
  size_t drained_uses = 0;
  for (const std::string& k : KeysSeen(fake)) {
    drained_uses += k == "sk-drained" ? 1 : 0;
  }
  EXPECT_EQ(drained_uses, 1u);
}

TEST_F(KeyPoolTest, OverloadedProviderIsRetriedWithTheSameKey) {
  FakeUpstream fake;
  fake.EnqueueHandler(OverloadedScript());
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-pool-1", "sk-pool-2"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
  const std::vector<std::string> seen = KeysSeen(fake);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], seen[1]) << "a 529 is the provider's condition, not the key's";
  // The request's own log line comes after any key_cooldown line would have.
  EXPECT_TRUE(relay().WaitForLogLines({" request ", "status=200"}, 1, milliseconds(2000)));
  EXPECT_TRUE(relay().LogLinesWith({"key_cooldown"}).empty());
}

}  // namespace
}  // namespace ccrelay::testing
