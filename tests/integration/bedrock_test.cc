// AWS Bedrock through the relay, against tests/fakes/fake_bedrock.py: a strict fake of the
// Bedrock runtime that checks every request's SigV4 signature with botocore (AWS's own code),
// rejects what Bedrock rejects (extra body fields, unknown betas, model/stream in the body) and
// answers JSON, AWS event streams, exceptions in the stream and HTTP errors.
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_bedrock_process.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const AwsIdentity kIam{"AKIDCCRELAYTEST0001", "bedrock-secret-key-never-logged-1", ""};
const AwsIdentity kIam2{"AKIDCCRELAYTEST0002", "bedrock-secret-key-never-logged-2", ""};
const AwsIdentity kTemp{"ASIACCRELAYTEST0003", "bedrock-secret-key-never-logged-3",
                        "session-token-never-logged-3"};
const std::string kApiKey = "bedrock-api-key-never-logged-4";
constexpr const char* kSonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

KeySpec IamKey(const AwsIdentity& id) {
  KeySpec k;
  k.aws_access_key_id = id.access_key_id;
  k.aws_secret_access_key = id.secret_access_key;
  k.aws_session_token = id.session_token;
  return k;
}

ProviderSpec BedrockProvider(const FakeBedrock& fake, std::vector<KeySpec> keys,
                             std::string mapped = kSonnet, std::string name = "bedrock") {
  ProviderSpec p;
  p.name = std::move(name);
  p.type = "bedrock";
  p.base_url = fake.base_url();
  p.extra_yaml = "    aws_region: us-east-1\n";
  p.keys = std::move(keys);
  p.models = {"claude-test-1"};
  p.model_mapping = {{"claude-test-1", std::move(mapped)}};
  return p;
}

std::string ThinkingBody(bool stream) {
  std::string body = R"({"model":"claude-test-1","max_tokens":2048,)";
  if (stream) {
    body += R"("stream":true,)";
  }
  body += R"("thinking":{"type":"enabled","budget_tokens":1024},)"
          R"("metadata":{"user_id":"u1"},)"
          R"("system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],)"
          R"("messages":[{"role":"user","content":[{"type":"text","text":"Hello, relay",)"
          R"("cache_control":{"type":"ephemeral"}}]}]})";
  return body;
}

class BedrockTest : public RelayTest {
 protected:
  // No secret of any kind in the relay's log.
  void ExpectNoSecretsLogged() {
    const std::string log = relay().log();
    for (const std::string& secret :
         {kIam.secret_access_key, kIam2.secret_access_key, kTemp.secret_access_key,
          kTemp.session_token, kApiKey}) {
      EXPECT_THAT(log, Not(HasSubstr(secret)));
    }
  }

  std::vector<std::string> StreamEvents(const std::string& body) {
    SseSplitter splitter;
    return splitter.Feed(body);
  }
};

TEST_F(BedrockTest, SignedInvokeReachesBedrockInItsShapeAndComesBackAsAMessage) {
  FakeBedrock fake({kIam}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.providers = {BedrockProvider(fake, {IamKey(kIam)})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  Headers headers = ClientHeaders();
  headers.push_back({"anthropic-beta", "oauth-2025-04-20,context-1m-2025-08-07"});
  const HttpResponse r = Post("/v1/messages?beta=true", ThinkingBody(false), headers);
  ASSERT_EQ(r.status, 200) << r.body << fake.log();
  const nlohmann::json msg = ParseJson(r.body);
  EXPECT_EQ(msg["type"], "message");
  EXPECT_EQ(msg["content"][0]["type"], "thinking");
  EXPECT_FALSE(msg["content"][0]["signature"].get<std::string>().empty());
  EXPECT_EQ(r.Header("x-cc-relay-provider"), "bedrock");

  const std::vector<nlohmann::json> reqs = fake.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  const nlohmann::json& q = reqs[0];
  EXPECT_EQ(q["operation"], "InvokeModel");
  EXPECT_EQ(q["model_id"], kSonnet);
  EXPECT_EQ(q["status"], 200);
  EXPECT_EQ(q["auth"]["kind"], "sigv4");
  EXPECT_EQ(q["auth"]["access_key_id"], kIam.access_key_id);
  EXPECT_EQ(q["signature_verified"], true);
  const nlohmann::json& body = q["body"];
  EXPECT_FALSE(body.contains("model"));
  EXPECT_FALSE(body.contains("stream"));
  EXPECT_EQ(body["anthropic_version"], "bedrock-2023-05-31");
  // Only what the Bedrock beta table accepts: claude-code-20250219 and oauth-2025-04-20 are
  // never sent to Bedrock.
  EXPECT_THAT(q["anthropic_beta"].get<std::vector<std::string>>(),
              ElementsAre("context-1m-2025-08-07"));
  ExpectNoSecretsLogged();
}

TEST_F(BedrockTest, EventStreamBecomesAnthropicSseWithThinkingSignatureAndUsage) {
  FakeBedrock fake({kIam}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.providers = {BedrockProvider(fake, {IamKey(kIam)})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  const HttpResponse r = Post("/v1/messages?beta=true", ThinkingBody(true));
  ASSERT_EQ(r.status, 200) << r.body << fake.log();
  EXPECT_EQ(r.Header("content-type"), "text/event-stream");
  const std::vector<std::string> events = StreamEvents(r.body);
  ASSERT_GE(events.size(), 6u) << r.body;
  EXPECT_THAT(events.front(), HasSubstr("event: message_start\ndata: {"));
  EXPECT_THAT(events.back(), HasSubstr("event: message_stop\ndata: {"));
  EXPECT_THAT(r.body, HasSubstr("\"type\":\"signature_delta\""));
  EXPECT_THAT(r.body, HasSubstr("\"type\":\"thinking_delta\""));
  for (const std::string& e : events) {
    EXPECT_TRUE(e.starts_with("event: ")) << e;
    const size_t data = e.find("\ndata: ");
    ASSERT_NE(data, std::string::npos) << e;
    EXPECT_FALSE(ParseJson(e.substr(data + 7)).is_discarded()) << e;
  }
  EXPECT_EQ(fake.Requests().at(0)["operation"], "InvokeModelWithResponseStream");
  // Usage counted from the decoded events (the access log line).
  ASSERT_TRUE(relay().WaitForLog("output_tokens=", milliseconds(5000))) << relay().log();
  EXPECT_THAT(relay().log(), Not(HasSubstr("output_tokens=0 ")));
  ExpectNoSecretsLogged();
}

TEST_F(BedrockTest, BearerApiKeyAndTemporaryCredentialsWork) {
  FakeBedrock fake({kTemp}, {kApiKey});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.strategy = "round-robin";
  KeySpec api;
  api.key = kApiKey;
  config.providers = {BedrockProvider(fake, {api, IamKey(kTemp)})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  for (int i = 0; i < 4; ++i) {
    const HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1", i % 2 == 0));
    ASSERT_EQ(r.status, 200) << r.body << fake.log();
  }
  std::set<std::string> kinds;
  for (const nlohmann::json& q : fake.Requests()) {
    EXPECT_EQ(q["status"], 200) << q.dump();
    kinds.insert(q["auth"]["kind"].get<std::string>());
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"bearer", "sigv4"}));
  ExpectNoSecretsLogged();
}

TEST_F(BedrockTest, InferenceProfileArnGoesInThePathEncodedLikeTheSdks) {
  FakeBedrock fake({kIam}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  const std::string arn =
      "arn:aws:bedrock:us-east-2:123456789012:application-inference-profile/abc123";
  RelayConfig config;
  config.providers = {BedrockProvider(fake, {IamKey(kIam)}, arn)};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const HttpResponse r = Post("/v1/messages", MessageBody());
  ASSERT_EQ(r.status, 200) << r.body << fake.log();
  const nlohmann::json q = fake.Requests().at(0);
  EXPECT_EQ(q["model_id"], arn);
  EXPECT_THAT(q["path"].get<std::string>(), HasSubstr("application-inference-profile%2Fabc123"));
  EXPECT_EQ(q["signature_verified"], true);
}

TEST_F(BedrockTest, CountTokensGoesToCountTokens) {
  FakeBedrock fake({kIam}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.providers = {BedrockProvider(fake, {IamKey(kIam)})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const HttpResponse r =
      Post("/v1/messages/count_tokens?beta=true",
           R"({"model":"claude-test-1","messages":[{"role":"user","content":"count me"}]})");
  ASSERT_EQ(r.status, 200) << r.body << fake.log();
  const nlohmann::json j = ParseJson(r.body);
  ASSERT_TRUE(j.contains("input_tokens")) << r.body;
  EXPECT_GT(j["input_tokens"].get<int>(), 0);
  EXPECT_EQ(fake.Requests().at(0)["operation"], "CountTokens");
}

TEST_F(BedrockTest, ThrottledKeyCoolsAndTheNextKeyServes) {
  FakeBedrock fake({kIam, kIam2}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.routing_yaml = "  session_affinity: false\n";
  config.providers = {BedrockProvider(fake, {IamKey(kIam), IamKey(kIam2)})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  ASSERT_EQ(Fetch(fake.port(), "POST", "/__fake/fail-next?status=429&n=1&type=ThrottlingException",
                  {}, "")
                .status,
            200);
  const HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1", true));
  ASSERT_EQ(r.status, 200) << r.body << fake.log();
  EXPECT_EQ(r.Header("x-cc-relay-attempts"), "2");
  const std::vector<nlohmann::json> reqs = fake.Requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0]["status"], 429);
  EXPECT_EQ(reqs[1]["status"], 200);
  EXPECT_NE(reqs[0]["auth"]["access_key_id"], reqs[1]["auth"]["access_key_id"]);
  EXPECT_TRUE(relay().WaitForLog("key_cooldown", milliseconds(2000))) << relay().log();
}

TEST_F(BedrockTest, AFailoverChainMixesBedrockAndAnthropic) {
  FakeBedrock fake({kIam}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  FakeUpstream anthropic;
  anthropic.SetHandler(StreamScript({.events = AnthropicSseEvents(SseOptions{.text_deltas = 2})}));
  RelayConfig config;
  config.providers = {BedrockProvider(fake, {IamKey(kIam)}, "anthropic.claude-unavailable-v1:0"),
                      ProviderFor("anthropic", anthropic, {"sk-ant-fallback"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1", true));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-cc-relay-provider"), "anthropic");
  EXPECT_EQ(fake.Requests().at(0)["status"], 503);
  EXPECT_EQ(anthropic.request_count(), 1u);
}

TEST_F(BedrockTest, DeniedKeyIsTakenOutAndTheClientGetsAnthropicsErrorShape) {
  FakeBedrock fake({kIam}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.providers = {BedrockProvider(fake, {IamKey(kIam)}, "anthropic.claude-denied-v1:0")};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const HttpResponse r = Post("/v1/messages", MessageBody());
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_TRUE(IsAnthropicError(r.body, "permission_error")) << r.body;
  EXPECT_TRUE(relay().WaitForLog("key_disabled", milliseconds(2000))) << relay().log();
  const HttpResponse again = Post("/v1/messages", MessageBody());
  EXPECT_EQ(again.status, 503) << again.body;
  EXPECT_THAT(again.body, HasSubstr("disabled"));
  EXPECT_EQ(fake.Requests().size(), 1u);  // the disabled key is not tried again
}

TEST_F(BedrockTest, AWrongSecretIsRefusedAsAnAuthenticationError) {
  FakeBedrock fake({AwsIdentity{kIam.access_key_id, "the-real-secret", ""}}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.providers = {BedrockProvider(fake, {IamKey(kIam)})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const HttpResponse r = Post("/v1/messages", MessageBody());
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_TRUE(IsAnthropicError(r.body, "authentication_error")) << r.body;
  EXPECT_EQ(fake.Requests().at(0)["signature_verified"], false);
  ExpectNoSecretsLogged();
}

TEST_F(BedrockTest, AnExceptionInTheStreamBecomesAnErrorEvent) {
  FakeBedrock fake({kIam}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.providers = {
      BedrockProvider(fake, {IamKey(kIam)}, "anthropic.claude-stream-exception-throttling-v1:0")};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1", true));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<std::string> events = StreamEvents(r.body);
  ASSERT_GE(events.size(), 2u) << r.body;
  EXPECT_THAT(events.front(), HasSubstr("event: message_start"));
  EXPECT_THAT(events.back(), HasSubstr("event: error\ndata: "));
  EXPECT_THAT(events.back(), HasSubstr("\"rate_limit_error\""));
}

TEST_F(BedrockTest, AStreamCutMidFrameEndsWithACleanErrorEvent) {
  FakeBedrock fake({kIam}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.providers = {BedrockProvider(fake, {IamKey(kIam)}, "anthropic.claude-stream-cut-v1:0")};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1", true));
  ASSERT_EQ(r.status, 200) << r.body;
  const std::vector<std::string> events = StreamEvents(r.body);
  ASSERT_FALSE(events.empty()) << r.body;
  EXPECT_THAT(events.front(), HasSubstr("event: message_start"));
  EXPECT_THAT(events.back(), HasSubstr("event: error\ndata: "));
  // The error event is whole (the stream ends on an event boundary) and names the failure.
  EXPECT_TRUE(r.body.ends_with("\n\n")) << r.body;
  EXPECT_THAT(events.back(), HasSubstr("\"api_error\""));
}

TEST_F(BedrockTest, EventsAreForwardedAsTheyArriveNotBuffered) {
  // The fake sends message_start and a delta, then stays silent for 4 s before the rest: the
  // client must hold both events long before the stream ends.
  FakeBedrock fake({kIam}, {}, {"--hang-ms", "4000"});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.timeouts.idle_ms = 10000;
  config.timeouts.first_byte_ms = 10000;
  config.providers = {BedrockProvider(fake, {IamKey(kIam)}, "anthropic.claude-stream-stall-v1:0")};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/v1/messages?beta=true", ClientHeaders(),
                                      MessageBody("claude-test-1", true))));
  const auto start = std::chrono::steady_clock::now();
  SseSplitter splitter;
  size_t received = 0;
  std::chrono::steady_clock::duration two_events_at{};
  const HttpResponse resp = conn->ReadResponse(milliseconds(15000), [&](std::string_view piece) {
    received += splitter.Feed(piece).size();
    if (received >= 2 && two_events_at == std::chrono::steady_clock::duration{}) {
      two_events_at = std::chrono::steady_clock::now() - start;
    }
    return true;
  });
  const auto total = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(resp.status, 200) << resp.error;
  ASSERT_GE(received, 4u);
  // Both events came during the 4 s of silence, not with the rest at its end.
  EXPECT_LT(two_events_at + std::chrono::milliseconds(2000), total);
}

TEST_F(BedrockTest, HealthChecksCountTokensSignedAndTakeARefusedKeyOut) {
  // The fake accepts kIam only: kIam2's signature is refused, which the check sees before any
  // client request does.
  FakeBedrock fake({kIam}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.routing_yaml = "  session_affinity: false\n";
  config.health_check_interval_ms = 60000;  // the first round runs at start
  config.providers = {BedrockProvider(fake, {IamKey(kIam2), IamKey(kIam)})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const std::string refused = common::FingerprintOf(kIam2.access_key_id);
  ASSERT_TRUE(relay().WaitForLogLines({"health_check", "provider=\"bedrock\"",
                                       "key=\"" + refused + "\"", "state=\"auth_failed\""},
                                      1, milliseconds(10000)))
      << relay().log();
  // (A first healthy verdict is not logged: the good key's probe is read from the fake.)
  const auto probed_by = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fake.Requests().size() < 2 && std::chrono::steady_clock::now() < probed_by) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  // The probes: signed CountTokens, one per key, checked by botocore.
  size_t probes = 0;
  for (const nlohmann::json& q : fake.Requests()) {
    ASSERT_EQ(q["operation"], "CountTokens") << q.dump();
    EXPECT_EQ(q["model_id"], kSonnet);
    const bool good = q["auth"]["access_key_id"] == kIam.access_key_id;
    EXPECT_EQ(q["signature_verified"], good);
    EXPECT_EQ(q["status"], good ? 200 : 403);
    ++probes;
  }
  EXPECT_EQ(probes, 2u);
  // Once the verdict is applied, client requests go to the good key only.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string key;
  while (key != common::FingerprintOf(kIam.access_key_id) &&
         std::chrono::steady_clock::now() < deadline) {
    const HttpResponse r = Post("/v1/messages", MessageBody());
    ASSERT_EQ(r.status, 200) << r.body;
    key = r.Header("x-cc-relay-key").value_or("");
  }
  for (int i = 0; i < 4; ++i) {
    const HttpResponse r = Post("/v1/messages", MessageBody());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("x-cc-relay-key"), common::FingerprintOf(kIam.access_key_id));
  }
  ExpectNoSecretsLogged();
}

TEST_F(BedrockTest, ModelsListShowsWhatTheBedrockProviderServes) {
  FakeBedrock fake({kIam}, {});
  ASSERT_TRUE(fake.ok()) << fake.log();
  RelayConfig config;
  config.providers = {BedrockProvider(fake, {IamKey(kIam)})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const HttpResponse r = Get("/v1/models");
  ASSERT_EQ(r.status, 200) << r.body;
  const nlohmann::json j = ParseJson(r.body);
  ASSERT_EQ(j["data"].size(), 1u) << r.body;
  EXPECT_EQ(j["data"][0]["id"], "claude-test-1");
  EXPECT_EQ(j["data"][0]["owned_by"], "amazon-bedrock");
  EXPECT_EQ(j["data"][0]["provider"], "bedrock");
}

}  // namespace
}  // namespace ccrelay::testing
