// Vertex AI and Azure Foundry providers end to end against a fake upstream, with static keys from
// the config: the path, headers and body bytes the upstream sees, a Google error coming back in
// Anthropic's shape, a beta the provider's table drops never reaching it, and its counter.
#include <map>
#include <string>

#include "gtest/gtest.h"

#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/metrics_text.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

constexpr std::string_view kVertexToken = "ya29.static-vertex-token";
constexpr std::string_view kAzureKey = "azure-foundry-key-1";

ProviderSpec VertexProvider(const FakeUpstream& fake) {
  ProviderSpec p = ProviderFor("vx", fake, {std::string(kVertexToken)}, "vertex");
  p.base_url = fake.base_url() + "/v1";
  p.model_mapping = {{"claude-test-1", "claude-sonnet-4-5@20250929"}};
  p.extra_yaml = "    gcp_project_id: test-proj\n    gcp_region: us-east5\n";
  return p;
}

ProviderSpec AzureProvider(const FakeUpstream& fake) {
  ProviderSpec p = ProviderFor("az", fake, {std::string(kAzureKey)}, "azure");
  p.base_url = fake.base_url() + "/anthropic";
  p.models = {};
  p.model_mapping = {{"claude-test-1", "my-opus-deployment"}};
  return p;
}

RelayConfig With(ProviderSpec p) {
  RelayConfig config;
  config.providers = {std::move(p)};
  return config;
}

class VertexAzureAdapterTest : public RelayTest {};

TEST_F(VertexAzureAdapterTest, VertexGetsTheModelInThePathABearerAndTheSplicedBody) {
  FakeUpstream fake;
  fake.SetHandler(MessageScript("claude-sonnet-4-5@20250929", "from vertex"));
  ASSERT_NO_FATAL_FAILURE(StartRelay(With(VertexProvider(fake))));

  const HttpResponse resp = Post("/v1/messages?beta=true", MessageBody());
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_NE(resp.body.find("from vertex"), std::string::npos);

  ASSERT_EQ(fake.request_count(), 1u);
  const RecordedRequest req = fake.requests()[0];
  EXPECT_EQ(req.target,
            "/v1/projects/test-proj/locations/us-east5/publishers/anthropic/models/"
            "claude-sonnet-4-5@20250929:rawPredict");
  EXPECT_EQ(req.Header("authorization"), "Bearer " + std::string(kVertexToken));
  EXPECT_FALSE(req.HasHeader("x-api-key"));
  // claude-code-20250219 is not in Vertex's table: dropped; interleaved thinking goes.
  EXPECT_EQ(req.Header("anthropic-beta"), "interleaved-thinking-2025-05-14");
  EXPECT_EQ(req.body, R"({"anthropic_version":"vertex-2023-10-16","max_tokens":1024,)"
                      R"("messages":[{"role":"user","content":"Hello, relay"}]})");
}

TEST_F(VertexAzureAdapterTest, VertexStreamsAndCountsTokens) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(With(VertexProvider(fake))));

  fake.EnqueueHandler(StreamScript({}));
  const HttpResponse stream = Post("/v1/messages", MessageBody("claude-test-1", true));
  ASSERT_EQ(stream.status, 200) << stream.error << stream.body;
  EXPECT_NE(stream.body.find("message_stop"), std::string::npos);

  fake.EnqueueHandler(JsonScript(200, R"({"input_tokens":12})"));
  const HttpResponse count =
      Post("/v1/messages/count_tokens",
           R"({"model":"claude-test-1","messages":[{"role":"user","content":"count me"}]})");
  ASSERT_EQ(count.status, 200) << count.error << count.body;
  EXPECT_EQ(count.body, R"({"input_tokens":12})");

  ASSERT_EQ(fake.request_count(), 2u);
  const auto reqs = fake.requests();
  EXPECT_EQ(reqs[0].target,
            "/v1/projects/test-proj/locations/us-east5/publishers/anthropic/models/"
            "claude-sonnet-4-5@20250929:streamRawPredict");
  EXPECT_EQ(reqs[0].body,
            R"({"anthropic_version":"vertex-2023-10-16","max_tokens":1024,"stream":true,)"
            R"("messages":[{"role":"user","content":"Hello, relay"}]})");
  EXPECT_EQ(reqs[1].target,
            "/v1/projects/test-proj/locations/us-east5/publishers/anthropic/models/"
            "count-tokens:rawPredict");
  EXPECT_EQ(reqs[1].body,
            R"({"anthropic_version":"vertex-2023-10-16","model":"claude-sonnet-4-5@20250929",)"
            R"("messages":[{"role":"user","content":"count me"}]})");
}

TEST_F(VertexAzureAdapterTest, GoogleQuotaErrorComesBackAsAnthropicRateLimitError) {
  FakeUpstream fake;
  fake.SetHandler(JsonScript(
      429,
      R"([{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com",)"
      R"("status":"RESOURCE_EXHAUSTED"}}])",
      {{"content-type", "application/json; charset=UTF-8"}}));
  RelayConfig config = With(VertexProvider(fake));
  config.max_attempts = 1;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  const HttpResponse resp = Post("/v1/messages", MessageBody());
  EXPECT_EQ(resp.status, 429) << resp.body;
  const nlohmann::json body = ParseJson(resp.body);
  ASSERT_TRUE(body.is_object()) << resp.body;
  EXPECT_EQ(body.value("type", ""), "error");
  EXPECT_EQ(body["error"].value("type", ""), "rate_limit_error");
  EXPECT_EQ(body["error"].value("message", ""), "Quota exceeded for aiplatform.googleapis.com");
}

TEST_F(VertexAzureAdapterTest, AzureGetsTheDeploymentAndTheApiKey) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(With(AzureProvider(fake))));

  const HttpResponse resp = Post("/v1/messages?beta=true", MessageBody());
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  const RecordedRequest req = fake.requests()[0];
  EXPECT_EQ(req.target, "/anthropic/v1/messages?beta=true");
  EXPECT_EQ(req.Header("api-key"), std::string(kAzureKey));
  EXPECT_EQ(req.Header("x-api-key"), std::string(kAzureKey));
  EXPECT_FALSE(req.HasHeader("authorization"));
  EXPECT_EQ(req.Header("anthropic-beta"), "claude-code-20250219,interleaved-thinking-2025-05-14");
  EXPECT_EQ(req.body, MessageBody("my-opus-deployment"));

  // Foundry has no Models API: the relay lists the deployments.
  const HttpResponse models = Get("/v1/models");
  ASSERT_EQ(models.status, 200);
  const nlohmann::json list = ParseJson(models.body);
  ASSERT_TRUE(list.contains("data")) << models.body;
  ASSERT_EQ(list["data"].size(), 1u) << models.body;
  EXPECT_EQ(list["data"][0].value("id", ""), "my-opus-deployment");
  EXPECT_EQ(list["data"][0].value("owned_by", ""), "azure-foundry");
}

TEST_F(VertexAzureAdapterTest, ADroppedBetaNeverReachesTheUpstreamAndIsCounted) {
  FakeUpstream fake;
  ProviderSpec p = AzureProvider(fake);
  p.extra_yaml = "    betas:\n      deny: [interleaved-thinking-2025-05-14]\n";
  ASSERT_NO_FATAL_FAILURE(StartRelay(With(p)));

  Headers headers = ClientHeaders();
  headers.emplace_back("anthropic-beta", "fine-grained-tool-streaming-2025-05-14,new-beta-1");
  const HttpResponse resp = Post("/v1/messages", MessageBody(), headers);
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
  ASSERT_EQ(fake.request_count(), 1u);
  const RecordedRequest req = fake.requests()[0];
  // Azure's table refuses fine-grained tool streaming, the policy denies interleaved thinking,
  // unknown betas pass on Azure; one header line.
  EXPECT_EQ(req.Header("anthropic-beta"), "claude-code-20250219,new-beta-1");
  EXPECT_EQ(CountHeader(req.headers, "anthropic-beta"), 1u);

  const HttpResponse scrape = Get("/metrics");
  ASSERT_EQ(scrape.status, 200);
  const auto samples = ParseSamples(scrape.body);
  EXPECT_EQ(
      SampleOf(
          samples,
          R"(ccrelay_betas_dropped_total{provider="az",beta="interleaved-thinking-2025-05-14"})"),
      1.0)
      << scrape.body;
  EXPECT_EQ(
      SampleOf(
          samples,
          R"(ccrelay_betas_dropped_total{provider="az",beta="fine-grained-tool-streaming-2025-05-14"})"),
      1.0)
      << scrape.body;
  const std::string promtool = FindInPath("promtool");
  ASSERT_FALSE(promtool.empty()) << "promtool is not installed (Debian package `prometheus`)";
  const CommandResult check = RunCommand({promtool, "check", "metrics"}, scrape.body);
  EXPECT_EQ(check.exit_code, 0) << check.output();
}

}  // namespace
}  // namespace ccrelay::testing
