// routing.strategy: cost-based through the relay, with fake upstreams standing for an Anthropic
// provider (Sonnet/Opus at list prices), a Z.AI provider (glm-4.7) and a local Ollama (free,
// small window): the cheapest capable provider gets each request; one the cheap one cannot
// handle (too long for its window, thinking below the quality floor, images, web_search) goes
// to another; ties alternate; threshold_tokens sends a large request to the strongest tier.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

ProviderSpec Spec(const std::string& name, const std::string& type, const FakeUpstream& fake,
                  const std::string& maps_to, const std::string& extra = "") {
  ProviderSpec p;
  p.name = name;
  p.type = type;
  p.base_url = fake.base_url();
  p.keys = {KeySpec{"sk-" + name + "-1"}};
  p.models = {};  // serves every model
  if (!maps_to.empty()) {
    p.model_mapping = {{"claude-*", maps_to}};
  }
  p.extra_yaml = extra;
  return p;
}

// A Messages body of about `tokens` estimated input tokens (4 bytes each), with what a test
// adds (thinking, an image block, tools).
std::string Body(const std::string& model, size_t tokens, const nlohmann::json& extra = {}) {
  nlohmann::json body = {{"model", model},
                         {"max_tokens", 1024},
                         {"messages", nlohmann::json::array()}};
  nlohmann::json content = nlohmann::json::array();
  content.push_back({{"type", "text"}, {"text", std::string(tokens * 4, 'x')}});
  if (extra.contains("image")) {
    content.push_back({{"type", "image"},
                       {"source", {{"type", "base64"}, {"media_type", "image/png"},
                                   {"data", "iVBORw0KGgo="}}}});
  }
  body["messages"].push_back({{"role", "user"}, {"content", content}});
  if (extra.contains("thinking")) {
    body["thinking"] = {{"type", "enabled"}, {"budget_tokens", 1024}};
    body["max_tokens"] = 4096;
  }
  if (extra.contains("web_search")) {
    body["tools"] = nlohmann::json::array(
        {{{"type", "web_search_20250305"}, {"name", "web_search"}, {"max_uses", 1}}});
  }
  return body.dump();
}

// The model each request a fake received named, in order.
std::vector<std::string> ModelsSeen(const FakeUpstream& fake) {
  std::vector<std::string> out;
  for (const RecordedRequest& r : fake.requests()) {
    out.push_back(ParseJson(r.body).value("model", ""));
  }
  return out;
}

class CostRoutingTest : public RelayTest {};

TEST_F(CostRoutingTest, CheapestCapableProviderGetsEachRequest) {
  FakeUpstream claude;
  FakeUpstream zai;
  FakeUpstream local;
  RelayConfig config;
  config.strategy = "cost-based";
  config.routing_yaml =
      "  session_affinity: false\n"
      "  cost_based:\n"
      "    threshold_tokens: 6000\n"
      "    quality_floor: {thinking: medium}\n";
  config.providers = {
      Spec("claude", "anthropic", claude, ""),
      Spec("zai", "zai", zai, "glm-4.7"),
      // Free, but a 2000-token window, tier small, and no images.
      Spec("local", "ollama", local, "qwen3-coder",
           "    context_window: 2000\n    tier: small\n    capabilities: [thinking]\n"),
  };
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  struct Step {
    const char* what;
    std::string body;
    const FakeUpstream* expected;
  };
  const std::vector<Step> steps = {
      {"small: the free local model", Body("claude-sonnet-4-5", 100), &local},
      {"longer than local's window: the next cheapest", Body("claude-sonnet-4-5", 3000), &zai},
      {"thinking: local is below the floor", Body("claude-sonnet-4-5", 100, {{"thinking", 1}}),
       &zai},
      {"an image: neither glm-4.7 nor local takes one", Body("claude-sonnet-4-5", 100, {{"image", 1}}),
       &claude},
      {"web_search: only the anthropic type has it",
       Body("claude-sonnet-4-5", 100, {{"web_search", 1}}), &claude},
      {"opus above threshold_tokens: the large tier first", Body("claude-opus-4-8", 7000),
       &claude},
      {"opus below it: the cheapest", Body("claude-opus-4-8", 100), &local},
  };
  for (const Step& step : steps) {
    const size_t before[3] = {claude.request_count(), zai.request_count(), local.request_count()};
    const HttpResponse r = Post("/v1/messages", step.body);
    ASSERT_EQ(r.status, 200) << step.what << ": " << r.body;
    const size_t after[3] = {claude.request_count(), zai.request_count(), local.request_count()};
    const FakeUpstream* fakes[3] = {&claude, &zai, &local};
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(after[i] - before[i], fakes[i] == step.expected ? 1u : 0u) << step.what;
    }
  }
  // Each got the model its mapping names.
  EXPECT_EQ(ModelsSeen(local), (std::vector<std::string>{"qwen3-coder", "qwen3-coder"}));
  EXPECT_EQ(ModelsSeen(zai), (std::vector<std::string>{"glm-4.7", "glm-4.7"}));
  EXPECT_EQ(ModelsSeen(claude), (std::vector<std::string>{"claude-sonnet-4-5", "claude-sonnet-4-5",
                                                          "claude-opus-4-8"}));
}

TEST_F(CostRoutingTest, EqualCostsAlternate) {
  FakeUpstream a;
  FakeUpstream b;
  FakeUpstream claude;
  RelayConfig config;
  config.strategy = "cost-based";
  config.routing_yaml = "  session_affinity: false\n";
  config.providers = {Spec("ollama-a", "ollama", a, "qwen3-coder"),
                      Spec("ollama-b", "ollama", b, "qwen3-coder"),
                      Spec("claude", "anthropic", claude, "")};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  for (int i = 0; i < 6; ++i) {
    const HttpResponse r = Post("/v1/messages", Body("claude-sonnet-4-5", 100));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(a.request_count(), 3u);
  EXPECT_EQ(b.request_count(), 3u);
  EXPECT_EQ(claude.request_count(), 0u);
}

TEST_F(CostRoutingTest, ACheapProviderThatFailsFallsBackToTheNext) {
  FakeUpstream zai;
  FakeUpstream claude;
  zai.SetHandler(InternalErrorScript());
  RelayConfig config;
  config.strategy = "cost-based";
  config.routing_yaml = "  session_affinity: false\n";
  config.providers = {Spec("claude", "anthropic", claude, ""),
                      Spec("zai", "zai", zai, "glm-4.7")};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const HttpResponse r = Post("/v1/messages", Body("claude-sonnet-4-5", 100));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(zai.request_count(), 1u);  // tried first: cheaper
  EXPECT_EQ(claude.request_count(), 1u);
}

}  // namespace
}  // namespace ccrelay::testing
