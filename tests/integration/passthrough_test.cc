// Non-streaming passthrough: what the upstream receives (path, query, body, headers, keys) and
// what the client gets back; the relay's own endpoints (/v1/models, /health, /).
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

class PassthroughTest : public RelayTest {};

TEST_F(PassthroughTest, NonStreamingResponseComesBackAsIs) {
  FakeUpstream fake;
  const std::string upstream_body = AnthropicMessageJson("claude-test-1", "Hi there", "msg_42");
  Headers upstream_headers = AnthropicResponseHeaders("req_upstream_42");
  upstream_headers.emplace_back("anthropic-ratelimit-unified-status", "allowed");
  fake.SetHandler(JsonScript(200, upstream_body, upstream_headers));
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake, {"sk-prov-a1"})));

  const std::string body = MessageBody();
  HttpResponse resp = Post("/v1/messages", body);
  ASSERT_TRUE(resp.complete) << resp.error;
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, upstream_body);
  EXPECT_EQ(resp.Header("content-type"), "application/json");
  EXPECT_EQ(resp.Header("request-id"), "req_upstream_42");
  for (const auto& [name, value] : upstream_headers) {
    EXPECT_EQ(resp.Header(name), value) << name;
  }
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "a");
  EXPECT_EQ(resp.Header("x-cc-relay-key"), common::FingerprintOf("sk-prov-a1"));
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "1");
  ASSERT_TRUE(resp.Header("x-cc-relay-request-id").has_value());
  EXPECT_FALSE(resp.Header("x-cc-relay-request-id")->empty());

  ASSERT_EQ(fake.request_count(), 1u);
  const RecordedRequest req = fake.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1/messages");
  EXPECT_EQ(req.body, body);
  EXPECT_EQ(req.Header("anthropic-version"), "2023-06-01");
  EXPECT_EQ(req.Header("anthropic-beta"), "claude-code-20250219,interleaved-thinking-2025-05-14");
  EXPECT_EQ(req.Header("content-type"), "application/json");
}

TEST_F(PassthroughTest, UpstreamClientErrorIsForwardedWithoutRetry) {
  FakeUpstream fake;
  FakeUpstream fallback;
  const std::string err =
      AnthropicErrorJson("invalid_request_error", "max_tokens: too big", "req_upstream_400");
  fake.SetHandler(JsonScript(400, err, {{"request-id", "req_upstream_400"}}));
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-prov-a1"}),
                      ProviderFor("b", fallback, {"sk-prov-b1"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 400);
  EXPECT_EQ(resp.body, err);
  EXPECT_EQ(resp.Header("request-id"), "req_upstream_400");
  EXPECT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fallback.request_count(), 0u);
}

TEST_F(PassthroughTest, BetaQueryIsForwarded) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  HttpResponse resp = Post("/v1/messages?beta=true", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fake.requests()[0].target, "/v1/messages?beta=true");
}

TEST_F(PassthroughTest, BaseUrlPathIsPrefixed) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake);
  config.providers[0].type = "zai";
  config.providers[0].base_url = fake.base_url() + "/api/anthropic";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages?beta=true", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fake.requests()[0].target, "/api/anthropic/v1/messages?beta=true");
}

TEST_F(PassthroughTest, CountTokensIsForwarded) {
  FakeUpstream fake;
  fake.SetHandler(JsonScript(200, R"({"input_tokens":2095})", {{"request-id", "req_ct"}}));
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  const std::string body =
      R"({"model":"claude-test-1","messages":[{"role":"user","content":"count me"}]})";
  HttpResponse resp = Post("/v1/messages/count_tokens?beta=true", body);
  EXPECT_EQ(resp.status, 200) << resp.error;
  EXPECT_EQ(resp.body, R"({"input_tokens":2095})");
  ASSERT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fake.requests()[0].method, "POST");
  EXPECT_EQ(fake.requests()[0].target, "/v1/messages/count_tokens?beta=true");
  EXPECT_EQ(fake.requests()[0].body, body);
}

TEST_F(PassthroughTest, ModelsListHasAnthropicShape) {
  FakeUpstream fake_a;
  FakeUpstream fake_b;
  RelayConfig config;
  config.providers = {ProviderFor("a", fake_a, {"sk-prov-a1"}),
                      ProviderFor("b", fake_b, {"sk-prov-b1"}, "zai")};
  config.providers[0].models = {"claude-test-1", "claude-test-2"};
  config.providers[1].models = {"glm-test-9"};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Get("/v1/models");
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_NE(resp.Header("content-type").value_or("").find("application/json"), std::string::npos);
  const auto j = ParseJson(resp.body);
  ASSERT_TRUE(j.is_object()) << resp.body;
  ASSERT_TRUE(j.contains("data") && j["data"].is_array()) << resp.body;
  std::set<std::string> ids;
  std::map<std::string, std::string> provider_of;
  for (const auto& m : j["data"]) {
    ASSERT_TRUE(m.is_object()) << m.dump();
    EXPECT_EQ(m.value("type", ""), "model") << m.dump();
    EXPECT_EQ(m.value("object", ""), "model") << m.dump();
    for (const char* field : {"id", "display_name", "created_at", "owned_by", "provider"}) {
      EXPECT_TRUE(m.contains(field) && m[field].is_string()) << field << " in " << m.dump();
    }
    EXPECT_TRUE(m.contains("created") && m["created"].is_number_integer()) << m.dump();
    ids.insert(m.value("id", ""));
    provider_of[m.value("id", "")] = m.value("provider", "");
  }
  EXPECT_EQ(ids, (std::set<std::string>{"claude-test-1", "claude-test-2", "glm-test-9"}));
  EXPECT_EQ(provider_of["claude-test-1"], "a");
  EXPECT_EQ(provider_of["glm-test-9"], "b");
  EXPECT_EQ(j.value("has_more", true), false);
  ASSERT_FALSE(j["data"].empty());
  EXPECT_EQ(j.value("first_id", ""), j["data"].front().value("id", "x"));
  EXPECT_EQ(j.value("last_id", ""), j["data"].back().value("id", "x"));
  // With ?beta=true too, and without asking any upstream.
  EXPECT_EQ(Get("/v1/models?beta=true").status, 200);
  EXPECT_EQ(fake_a.request_count() + fake_b.request_count(), 0u);
}

TEST_F(PassthroughTest, HealthAndRoot) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  HttpResponse health = Get("/health");
  ASSERT_EQ(health.status, 200) << health.error;
  const auto j = ParseJson(health.body);
  ASSERT_TRUE(j.is_object()) << health.body;
  EXPECT_EQ(j.value("status", ""), "ok");

  HttpResponse head = Fetch(port(), "HEAD", "/", {}, "");
  EXPECT_EQ(head.status, 200) << head.error;
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(Get("/").status, 200);
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(PassthroughTest, ModelMappingSplicesOnlyTheModel) {
  FakeUpstream fake;
  RelayConfig config;
  config.providers = {ProviderFor("z", fake, {"zai-key-1"}, "zai")};
  config.providers[0].models = {"claude-test-1"};
  config.providers[0].model_mapping = {{"claude-test-1", "GLM-4.7"}};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  // Odd spacing and field order: the relay must splice bytes, not re-serialise.
  const std::string body =
      "{ \"max_tokens\" : 512,\n  \"model\":   \"claude-test-1\" , "
      "\"messages\":[{\"role\":\"user\","
      "\"content\":\"mention claude-test-1 here\"}], \"temperature\":0.50 }";
  std::string expected = body;
  const std::string from = R"("model":   "claude-test-1")";
  expected.replace(expected.find(from), from.size(), R"("model":   "GLM-4.7")");
  HttpResponse resp = Post("/v1/messages", body);
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  const RecordedRequest req = fake.requests()[0];
  EXPECT_EQ(req.body, expected);
  EXPECT_EQ(req.Header("content-length"), std::to_string(expected.size()));
  // zai auth: bearer with the provider key, the client's key gone.
  EXPECT_EQ(req.Header("authorization"), "Bearer zai-key-1");
  EXPECT_FALSE(req.HasHeader("x-api-key"));
}

TEST_F(PassthroughTest, HopByHopHeadersAreNotForwarded) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  Headers headers = ClientHeaders();
  headers.emplace_back("connection", "keep-alive, x-hop-custom");
  headers.emplace_back("keep-alive", "timeout=5");
  headers.emplace_back("proxy-connection", "keep-alive");
  headers.emplace_back("te", "trailers");
  headers.emplace_back("proxy-authorization", "Basic cHJveHk6c2VjcmV0");
  headers.emplace_back("x-hop-custom", "1");
  headers.emplace_back("user-agent", "claude-cli/2.0.0 (external, cli)");
  headers.emplace_back("x-stainless-retry-count", "0");
  headers.emplace_back("x-app", "cli");
  HttpResponse resp = Post("/v1/messages", MessageBody(), headers);
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  const RecordedRequest req = fake.requests()[0];
  for (const char* hop : {"keep-alive", "proxy-connection", "te", "proxy-authorization",
                          "x-hop-custom", "transfer-encoding", "upgrade"}) {
    EXPECT_FALSE(req.HasHeader(hop)) << hop << " was forwarded";
  }
  EXPECT_NE(req.Header("connection").value_or(""), "keep-alive, x-hop-custom");
  EXPECT_EQ(req.Header("user-agent"), "claude-cli/2.0.0 (external, cli)");
  EXPECT_EQ(req.Header("x-stainless-retry-count"), "0");
  EXPECT_EQ(req.Header("x-app"), "cli");
  EXPECT_EQ(req.Header("host").value_or(""), "127.0.0.1:" + std::to_string(fake.port()));
}

TEST_F(PassthroughTest, ClientCredentialsAreReplacedByTheProviderKey) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake, {"sk-prov-a1"})));
  Headers headers = ClientHeaders("sk-client-own");
  headers.emplace_back("authorization", "Bearer client-bearer-token");
  HttpResponse resp = Post("/v1/messages", MessageBody(), headers);
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  const RecordedRequest req = fake.requests()[0];
  EXPECT_EQ(CountHeader(req.headers, "x-api-key"), 1u);
  EXPECT_EQ(req.Header("x-api-key"), "sk-prov-a1");
  EXPECT_FALSE(req.HasHeader("authorization"));
  for (const auto& [name, value] : req.headers) {
    EXPECT_EQ(value.find("sk-client-own"), std::string::npos) << name;
    EXPECT_EQ(value.find("client-bearer-token"), std::string::npos) << name;
  }
}

TEST_F(PassthroughTest, ProviderWithoutKeysForwardsTheClientsApiKey) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake, {})));
  HttpResponse resp = Post("/v1/messages", MessageBody(), ClientHeaders("sk-ant-api03-client"));
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fake.requests()[0].Header("x-api-key"), "sk-ant-api03-client");
  // Whatever x-cc-relay-key says, it is never the key itself.
  EXPECT_EQ(resp.Header("x-cc-relay-key").value_or("").find("sk-ant-api03-client"),
            std::string::npos);
}

TEST_F(PassthroughTest, ProviderWithoutKeysForwardsTheClientsBearer) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake, {})));
  Headers headers = {{"content-type", "application/json"},
                     {"anthropic-version", "2023-06-01"},
                     {"anthropic-beta", "oauth-2025-04-20"},
                     {"authorization", "Bearer sk-ant-oat01-subscription"}};
  HttpResponse resp = Post("/v1/messages", MessageBody(), headers);
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  const RecordedRequest req = fake.requests()[0];
  EXPECT_EQ(req.Header("authorization"), "Bearer sk-ant-oat01-subscription");
  EXPECT_EQ(req.Header("anthropic-beta"), "oauth-2025-04-20");
  EXPECT_FALSE(req.HasHeader("x-api-key"));
}

TEST_F(PassthroughTest, OllamaGetsTheKeyAsXApiKey) {
  FakeUpstream fake;
  RelayConfig config;
  config.providers = {ProviderFor("o", fake, {"ollama-key"}, "ollama")};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fake.requests()[0].Header("x-api-key"), "ollama-key");
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "o");
}

TEST_F(PassthroughTest, FiveMegabyteBodyArrivesIntact) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  std::string text(5 << 20, 'x');
  for (size_t i = 0; i < text.size(); ++i) {
    text[i] = static_cast<char>('a' + (i * 2654435761u >> 7) % 26);
  }
  const std::string body = R"({"model":"claude-test-1","max_tokens":16,"messages":[)"
                           R"({"role":"user","content":")" +
                           text + R"("}]})";
  HttpResponse resp = Post("/v1/messages", body);
  EXPECT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  const RecordedRequest req = fake.requests()[0];
  EXPECT_EQ(req.body.size(), body.size());
  EXPECT_EQ(Sha256Hex(req.body), Sha256Hex(body));
}

TEST_F(PassthroughTest, BodyInPiecesThenAPipelinedRequestInTheSameSegment) {
  // The body (Content-Length) is read straight into the request: the bytes after the headers,
  // the pieces that follow, and not one byte more: the next request starts right behind it.
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  const std::string body1 = MessageBody();
  const std::string body2 = R"({"model":"claude-test-1","max_tokens":8,"messages":[)"
                            R"({"role":"user","content":"second"}]})";
  const std::string first = BuildRequest("POST", "/v1/messages", ClientHeaders(), body1);
  const std::string second = BuildRequest("POST", "/v1/messages", ClientHeaders(), body2);
  const size_t head_end = first.find("\r\n\r\n") + 4;
  ASSERT_TRUE(conn->Send(first.substr(0, head_end + 5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(conn->Send(first.substr(head_end + 5, 20)));
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  ASSERT_TRUE(conn->Send(first.substr(head_end + 25) + second));
  HttpResponse r1 = conn->ReadResponse(std::chrono::milliseconds(5000));
  HttpResponse r2 = conn->ReadResponse(std::chrono::milliseconds(5000));
  EXPECT_EQ(r1.status, 200) << r1.error << r1.body;
  EXPECT_EQ(r2.status, 200) << r2.error << r2.body;
  ASSERT_EQ(fake.request_count(), 2u);
  EXPECT_EQ(fake.requests()[0].body, body1);
  EXPECT_EQ(fake.requests()[1].body, body2);
}

TEST_F(PassthroughTest, KeepAliveClientConnectionServesSeveralRequests) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(conn->Send(BuildRequest("POST", "/v1/messages", ClientHeaders(), MessageBody())));
    HttpResponse resp = conn->ReadResponse(milliseconds(5000));
    ASSERT_TRUE(resp.complete) << i << ": " << resp.error;
    EXPECT_EQ(resp.status, 200) << i;
  }
  EXPECT_EQ(fake.request_count(), 3u);
}

}  // namespace
}  // namespace ccrelay::testing
