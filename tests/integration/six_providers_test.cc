// One failover chain with all six provider types, each on its own fake: anthropic, zai and
// ollama on FakeUpstream, bedrock on fake_bedrock.py (SigV4 / API keys checked), vertex on
// fake_vertex.py and azure on fake_foundry.py (bearer tokens and API keys checked). A request
// fails over through five of them and is served by the sixth; walking the chain the other way,
// every type serves in turn. Each fake sees exactly the attempts the chain implies.
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_bedrock_process.h"
#include "tests/fakes/fake_foundry_process.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/fake_vertex_process.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

constexpr char kBedrockKey[] = "bedrock-api-key-six-providers";
constexpr char kVertexToken[] = "ya29.static-token-six-providers";
constexpr char kFoundryKey[] = "foundry-key-six-providers";
constexpr char kBedrockModel[] = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
constexpr char kVertexModel[] = "claude-sonnet-4-5@20250929";
// fake_vertex.py answers a model id holding "quota" with Vertex's 429 RESOURCE_EXHAUSTED.
constexpr char kVertexQuotaModel[] = "claude-quota-sonnet-4-5@20250929";
constexpr char kDeployment[] = "claude-sonnet-4-5";

class SixProvidersTest : public RelayTest {
 protected:
  SixProvidersTest()
      : bedrock_({}, {kBedrockKey}), vertex_(VertexOptions()), foundry_(FoundryOptions()) {}

  void SetUp() override {
    ASSERT_TRUE(bedrock_.ok()) << bedrock_.log();
    ASSERT_TRUE(vertex_.ok()) << vertex_.log();
    ASSERT_TRUE(foundry_.ok()) << foundry_.log();
  }

  static FakeVertexOptions VertexOptions() {
    FakeVertexOptions o;
    o.static_tokens = {kVertexToken};
    return o;
  }
  static FakeFoundryOptions FoundryOptions() {
    FakeFoundryOptions o;
    o.deployments = {kDeployment};
    o.api_keys = {kFoundryKey};
    return o;
  }

  ProviderSpec Provider(const std::string& type, const std::string& vertex_model = kVertexModel) {
    if (type == "anthropic") {
      return ProviderFor("anthropic", anthropic_, {"sk-ant-six"}, "anthropic");
    }
    if (type == "zai") {
      return ProviderFor("zai", zai_, {"zai-key-six"}, "zai");
    }
    if (type == "ollama") {
      return ProviderFor("ollama", ollama_, {}, "ollama");
    }
    ProviderSpec p;
    p.name = type;
    p.type = type;
    if (type == "bedrock") {
      p.base_url = bedrock_.base_url();
      p.keys = {KeySpec{.key = kBedrockKey}};
      p.model_mapping = {{"claude-test-1", kBedrockModel}};
      p.extra_yaml = "    aws_region: us-east-1\n";
    } else if (type == "vertex") {
      p.base_url = vertex_.base_url();
      p.keys = {KeySpec{.key = kVertexToken}};
      p.model_mapping = {{"claude-test-1", vertex_model}};
      p.extra_yaml = "    gcp_project_id: " + vertex_.project() +
                     "\n    gcp_region: " + vertex_.region() + "\n";
    } else {
      p.base_url = foundry_.base_url();
      p.keys = {KeySpec{.key = kFoundryKey}};
      p.model_mapping = {{"claude-test-1", kDeployment}};
    }
    return p;
  }

  RelayConfig Chain(const std::vector<std::string>& types,
                    const std::string& vertex_model = kVertexModel) {
    RelayConfig config;
    for (const std::string& t : types) {
      config.providers.push_back(Provider(t, vertex_model));
    }
    config.max_attempts = 6;
    return config;
  }

  // fake_bedrock.py's next `n` requests fail with `status` and that exception.
  bool BedrockFailNext(int status, int n, const std::string& exception) {
    return Fetch(bedrock_.port(), "POST",
                 "/__fake/fail-next?status=" + std::to_string(status) + "&n=" + std::to_string(n) +
                     "&type=" + exception)
               .status == 200;
  }

  // How many requests each fake saw, in the order anthropic, zai, ollama, bedrock, vertex, azure.
  std::vector<size_t> Seen() const {
    return {anthropic_.request_count(), zai_.request_count(),      ollama_.request_count(),
            bedrock_.Requests().size(), vertex_.Requests().size(), foundry_.Requests().size()};
  }

  FakeUpstream anthropic_;
  FakeUpstream zai_;
  FakeUpstream ollama_;
  FakeBedrock bedrock_;
  FakeVertex vertex_;
  FakeFoundry foundry_;
};

TEST_F(SixProvidersTest, FiveFailuresOfFiveTypesThenAzureServes) {
  anthropic_.SetHandler(JsonScript(503, AnthropicErrorJson("api_error", "anthropic is down")));
  zai_.SetHandler(OverloadedScript());
  ollama_.SetHandler(JsonScript(503, AnthropicErrorJson("api_error", "ollama is down")));
  ASSERT_TRUE(BedrockFailNext(429, 1, "ThrottlingException"));
  ASSERT_NO_FATAL_FAILURE(StartRelay(
      Chain({"anthropic", "zai", "ollama", "bedrock", "vertex", "azure"}, kVertexQuotaModel)));

  const HttpResponse r = Post("/v1/messages", MessageBody());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("x-cc-relay-provider"), "azure");
  EXPECT_EQ(r.Header("x-cc-relay-attempts"), "6");
  EXPECT_EQ(r.Header("x-cc-relay-key"), common::FingerprintOf(kFoundryKey));
  EXPECT_EQ(ParseJson(r.body)["content"][0].value("text", ""), "Hello from fake Foundry.");

  EXPECT_EQ(Seen(), (std::vector<size_t>{1, 1, 1, 1, 1, 1}));
  // Each attempt reached its fake in that provider's own shape, and failed as scripted.
  EXPECT_EQ(anthropic_.requests()[0].Header("x-api-key"), "sk-ant-six");
  EXPECT_EQ(zai_.requests()[0].Header("authorization"), "Bearer zai-key-six");
  const nlohmann::json bedrock = bedrock_.Requests()[0];
  EXPECT_EQ(bedrock["status"], 429) << bedrock.dump();
  EXPECT_EQ(bedrock["model_id"], kBedrockModel) << bedrock.dump();
  const nlohmann::json vertex = vertex_.Requests()[0];
  EXPECT_EQ(vertex["status"], 429) << vertex.dump();
  EXPECT_EQ(vertex["fault"], "quota") << vertex.dump();
  EXPECT_EQ(vertex["error_type"], "RESOURCE_EXHAUSTED") << vertex.dump();
  const nlohmann::json azure = foundry_.Requests()[0];
  EXPECT_EQ(azure["status"], 200) << azure.dump();
  EXPECT_EQ(azure["auth"]["kind"], "api-key");
  EXPECT_EQ(azure["model"], kDeployment);
}

TEST_F(SixProvidersTest, TheReverseChainHasEveryTypeServeInTurn) {
  // azure -> vertex -> bedrock -> ollama -> zai -> anthropic. Request k is served by the k-th
  // provider; after serving, a provider fails every request of the walk that is left.
  ASSERT_NO_FATAL_FAILURE(
      StartRelay(Chain({"azure", "vertex", "bedrock", "ollama", "zai", "anthropic"})));
  const std::vector<std::string> order = {"azure",  "vertex", "bedrock",
                                          "ollama", "zai",    "anthropic"};
  for (size_t k = 0; k < order.size(); ++k) {
    SCOPED_TRACE("request " + std::to_string(k + 1));
    const HttpResponse r = Post("/v1/messages", MessageBody());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("x-cc-relay-provider"), order[k]);
    EXPECT_EQ(r.Header("x-cc-relay-attempts"), std::to_string(k + 1));
    const int left = static_cast<int>(order.size() - k - 1);
    if (order[k] == "azure") {
      ASSERT_TRUE(foundry_.FailNext(529, left));
    } else if (order[k] == "vertex") {
      ASSERT_TRUE(vertex_.FailNext(503, left, "UNAVAILABLE"));
    } else if (order[k] == "bedrock") {
      ASSERT_TRUE(BedrockFailNext(500, left, "InternalServerException"));
    } else if (order[k] == "ollama") {
      ollama_.SetHandler(InternalErrorScript());
    } else if (order[k] == "zai") {
      zai_.SetHandler(OverloadedScript());
    }
  }
  // anthropic 1, zai 2, ollama 3, bedrock 4, vertex 5, azure 6.
  EXPECT_EQ(Seen(), (std::vector<size_t>{1, 2, 3, 4, 5, 6}));
  const auto statuses = [](const std::vector<nlohmann::json>& requests) {
    std::vector<int> out;
    for (const nlohmann::json& r : requests) {
      out.push_back(r.value("status", 0));
    }
    return out;
  };
  EXPECT_EQ(statuses(foundry_.Requests()), (std::vector<int>{200, 529, 529, 529, 529, 529}));
  EXPECT_EQ(statuses(vertex_.Requests()), (std::vector<int>{200, 503, 503, 503, 503}));
  EXPECT_EQ(statuses(bedrock_.Requests()), (std::vector<int>{200, 500, 500, 500}));
}

}  // namespace
}  // namespace ccrelay::testing
