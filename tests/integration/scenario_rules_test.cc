// routing.rules through the relay with fake upstreams: Claude Code's background (Haiku) calls,
// thinking, long contexts, web search and a header each go to the provider their rule names;
// a made-up model a subagent asks for is overridden (then mapped) on its way upstream; a rule
// whose provider is down falls back to the others (or, with fallback: false, does not); and
// /metrics counts each decision by strategy and rule.
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/metrics_text.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

ProviderSpec Provider(const std::string& name, const FakeUpstream& fake) {
  ProviderSpec p = ProviderFor(name, fake, {"sk-" + name + "-1"});
  p.models = {};  // every provider serves every model: only the rules tell them apart
  return p;
}

std::string Body(std::string_view model, std::string_view extra = "",
                 std::string_view content = "Hello, relay") {
  std::string body = R"({"model":")";
  body += model;
  body += R"(","max_tokens":1024,)";
  body += extra;
  body += R"("messages":[{"role":"user","content":")";
  body += content;
  body += R"("}]})";
  return body;
}

// The "model" of the last request `fake` got ("" none).
std::string LastModel(const FakeUpstream& fake) {
  const std::vector<RecordedRequest> got = fake.requests();
  if (got.empty()) {
    return "";
  }
  return ParseJson(got.back().body).value("model", "");
}

class ScenarioRulesTest : public RelayTest {
 protected:
  FakeUpstream main_, cheap_, strong_, big_, web_;

  // `down`: cheap and strong point at a port nobody listens on (connections refused).
  void Start(bool down = false) {
    RelayConfig config;  // failover: main first, the others after it in this order
    config.providers = {Provider("main", main_), Provider("cheap", cheap_),
                        Provider("strong", strong_), Provider("big", big_), Provider("web", web_)};
    if (down) {
      for (const size_t i : {1, 2}) {
        config.providers[i].base_url = "http://127.0.0.1:" + std::to_string(UnusedPort());
      }
    }
    config.providers[1].model_mapping = {{"claude-haiku-*", "glm-4.5-air"}};
    config.routing_yaml = R"(  rules:
    - name: background
      match: {background: true}
      providers: [cheap]
    - name: subagent-cheap
      match: {model: route-cheap}
      providers: [cheap]
      model: claude-haiku-4-5
    - name: thinking
      match: {thinking: true}
      providers: [strong]
    - name: long-context
      match: {long_context: 20000}
      providers: [big]
    - name: web
      match: {tools: [web_search]}
      providers: [web]
    - name: by-header
      match: {header: {x-route: "strong*"}}
      providers: [strong]
      model: claude-strong-1
      fallback: false
)";
    ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  }

  // Posts `body` (with `extra` headers) and expects 200 from `fake` with `model` upstream.
  void ExpectRoutedTo(const std::string& body, const FakeUpstream& fake, const std::string& model,
                      const Headers& extra = {}) {
    Headers headers = ClientHeaders();
    headers.insert(headers.end(), extra.begin(), extra.end());
    const size_t before = fake.request_count();
    const HttpResponse r = Post("/v1/messages", body, headers);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(fake.request_count(), before + 1) << "not routed to the expected provider";
    EXPECT_EQ(LastModel(fake), model);
  }
};

TEST_F(ScenarioRulesTest, EachScenarioGoesToItsProvider) {
  ASSERT_NO_FATAL_FAILURE(Start());

  // No rule matches: the strategy (failover: main).
  ExpectRoutedTo(Body("claude-opus-4-8"), main_, "claude-opus-4-8");
  // Claude Code's background call (a Haiku): cheap, whose model_mapping maps it.
  ExpectRoutedTo(Body("claude-haiku-4-5-20251001"), cheap_, "glm-4.5-air");
  // A subagent's made-up model: overridden to a Haiku, which cheap then maps.
  ExpectRoutedTo(Body("route-cheap"), cheap_, "glm-4.5-air");
  // Thinking on.
  ExpectRoutedTo(Body("claude-opus-4-8", R"("thinking":{"type":"enabled","budget_tokens":2048},)"),
                 strong_, "claude-opus-4-8");
  // A long context: about 100 000 bytes, some 25 000 estimated tokens, above 20 000.
  ExpectRoutedTo(Body("claude-opus-4-8", "", std::string(100000, 'x')), big_, "claude-opus-4-8");
  // The web_search server tool.
  ExpectRoutedTo(
      Body("claude-opus-4-8",
           R"("tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3}],)"),
      web_, "claude-opus-4-8");
  // A header, with a model override that reaches the upstream as written.
  ExpectRoutedTo(Body("claude-opus-4-8"), strong_, "claude-strong-1", {{"X-Route", "strong-1"}});
  EXPECT_EQ(main_.request_count(), 1u);

  // One decision per request, by strategy (failover ranks a rule's own list in its order) and
  // rule.
  std::map<std::string, double> samples;
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  do {
    samples = ParseSamples(Get("/metrics").body);
  } while (SumOf(samples, "ccrelay_routing_decisions_total") < 7 &&
           std::chrono::steady_clock::now() < deadline);
  for (const auto& [rule, n] : std::vector<std::pair<std::string, double>>{
           {"default", 1}, {"background", 1}, {"subagent-cheap", 1}, {"thinking", 1},
           {"long-context", 1}, {"web", 1}, {"by-header", 1}}) {
    EXPECT_EQ(SampleOf(samples, "ccrelay_routing_decisions_total{strategy=\"" +
                                    std::string(rule == "default" ? "failover" : "ordered") +
                                    "\",rule=\"" + rule + "\"}"),
              n)
        << rule;
  }
}

TEST_F(ScenarioRulesTest, ARuleWhoseProviderIsDownFallsBackUnlessItSaysNot) {
  ASSERT_NO_FATAL_FAILURE(Start(/*down=*/true));
  // background: cheap refuses connections; the others follow in the strategy's order (main
  // first), with the requested model (no override in this rule).
  ExpectRoutedTo(Body("claude-haiku-4-5"), main_, "claude-haiku-4-5");
  // by-header has fallback: false: strong down, nothing else is tried.
  const size_t others = main_.request_count() + big_.request_count() + web_.request_count();
  Headers headers = ClientHeaders();
  headers.emplace_back("x-route", "strong");
  const HttpResponse r = Post("/v1/messages", Body("claude-opus-4-8"), headers);
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(main_.request_count() + big_.request_count() + web_.request_count(), others);
}

}  // namespace
}  // namespace ccrelay::testing
