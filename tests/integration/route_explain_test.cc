// `cc-relayctl route explain` against the real relay: what it says agrees with where the same
// request then goes (failover, a key taken out by a 401, a key cooled by a 429, keys spread
// along the wheel), providers left out say why, the table and JSON outputs, and the same through
// a control plane forwarding to a separate data plane's admin API with the shared token.
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

#include "dataplane/common/secret.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_config.h"
#include "tests/fakes/relay_fixture.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr milliseconds kStartTimeout{10000};

class RouteExplainTest : public RelayTest {
 protected:
  CommandResult Ctl(std::vector<std::string> args, std::string_view stdin_data = {}) {
    std::vector<std::string> full = {CCR_RELAYCTL_BINARY, "--control-plane",
                                     ControlPlaneAddress()};
    full.insert(full.end(), args.begin(), args.end());
    return RunCommand(full, stdin_data);
  }

  // `route explain` with `args`, as JSON; adds a failure unless it exits 0 with JSON.
  nlohmann::json Explain(std::vector<std::string> args) {
    args.insert(args.begin(), {"--output", "json", "route", "explain"});
    const CommandResult r = Ctl(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    nlohmann::json j = ParseJson(r.out);
    EXPECT_FALSE(j.is_discarded()) << r.out << r.err;
    return j.is_discarded() ? nlohmann::json::object() : j;
  }

  // Explains MessageBody() (as a body file), then sends it: the answer comes from the
  // provider/key explain named first, in one attempt.
  void ExpectExplainedThenSent(const std::string& why) {
    const std::string body_file = dir_.WriteFile("body.json", MessageBody());
    const nlohmann::json e = Explain({"--file", body_file});
    const std::string provider = e.value("first_provider", "");
    const std::string key = e.value("first_key", "");
    ASSERT_FALSE(provider.empty()) << why << ": " << e.dump();
    HttpResponse resp = Post("/v1/messages", MessageBody());
    EXPECT_EQ(resp.status, 200) << why << ": " << resp.error << resp.body;
    EXPECT_EQ(resp.Header("x-cc-relay-provider"), provider) << why << ": " << e.dump();
    EXPECT_EQ(resp.Header("x-cc-relay-key"), key) << why << ": " << e.dump();
    EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "1") << why;
  }

  // The ranked entry named `name` (an empty object when absent).
  static nlohmann::json Ranked(const nlohmann::json& e, const std::string& name) {
    for (const auto& r : e.value("ranked", nlohmann::json::array())) {
      if (r.value("name", "") == name) {
        return r;
      }
    }
    return nlohmann::json::object();
  }

  TempDir dir_;
};

TEST_F(RouteExplainTest, ExplainsTheFailoverOrderAndEveryKeyChoiceTheRequestsThenMake) {
  FakeUpstream a;
  FakeUpstream b;
  RelayConfig config;
  config.providers = {ProviderFor("a", a, {"sk-prov-a1", "sk-prov-a2"}),
                      ProviderFor("b", b, {"sk-prov-b1"})};
  ProviderSpec other = ProviderFor("other", b, {"sk-prov-o1"});
  other.models = {"other-model"};
  config.providers.push_back(other);
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  const nlohmann::json e =
      Explain({"--model", "claude-test-1", "--tokens", "2000", "--thinking", "--tools",
               "web_search"});
  EXPECT_EQ(e.value("strategy", ""), "failover") << e.dump();
  EXPECT_EQ(e.value("model", ""), "claude-test-1");
  EXPECT_EQ(e.value("rule", "x"), "");
  EXPECT_EQ(e["request"].value("input_tokens", ""), "2000") << e.dump();
  EXPECT_TRUE(e["request"].value("thinking", false));
  EXPECT_EQ(e["request"]["server_tools"], nlohmann::json::array({"web_search"}));
  ASSERT_EQ(e["ranked"].size(), 2u) << e.dump();
  EXPECT_EQ(e["ranked"][0].value("name", ""), "a");
  EXPECT_EQ(e["ranked"][1].value("name", ""), "b");
  EXPECT_EQ(e["ranked"][0].value("model", ""), "claude-test-1");
  EXPECT_EQ(e["ranked"][0].value("breaker", ""), "closed");
  EXPECT_EQ(e["ranked"][0]["keys"].size(), 2u);
  // Failover ranks by its order, not by a figure: every figure is unset (negative).
  EXPECT_LT(e["ranked"][0].value("expected_cost_usd", 0.0), 0);
  EXPECT_LT(e["ranked"][0].value("score", 0.0), 0);
  ASSERT_EQ(e["excluded"].size(), 1u) << e.dump();
  EXPECT_EQ(e["excluded"][0].value("name", ""), "other");
  EXPECT_EQ(e["excluded"][0].value("reason", ""), "does not serve model claude-test-1");

  // The keys of a are spread along the wheel: each explain names the key the next request
  // takes (explain itself moves nothing), and both keys come up.
  std::set<std::string> keys_used;
  for (int i = 0; i < 4; ++i) {
    ASSERT_NO_FATAL_FAILURE(ExpectExplainedThenSent("request " + std::to_string(i)));
    keys_used.insert(a.requests().back().Header("x-api-key").value_or(""));
  }
  EXPECT_EQ(keys_used, (std::set<std::string>{"sk-prov-a1", "sk-prov-a2"}));
  EXPECT_EQ(b.request_count(), 0u);
}

TEST_F(RouteExplainTest, AKeyTakenOutByA401MovesTheExplainedFirstChoice) {
  FakeUpstream a;
  FakeUpstream b;
  a.SetHandler(JsonScript(401, AnthropicErrorJson("authentication_error", "invalid x-api-key")));
  RelayConfig config;
  config.providers = {ProviderFor("a", a, {"sk-prov-a1"}), ProviderFor("b", b, {"sk-prov-b1"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  const nlohmann::json before = Explain({"--model", "claude-test-1"});
  EXPECT_EQ(before.value("first_provider", ""), "a") << before.dump();
  EXPECT_EQ(before.value("first_key", ""), common::FingerprintOf("sk-prov-a1"));

  HttpResponse refused = Post("/v1/messages", MessageBody());
  EXPECT_EQ(refused.Header("x-cc-relay-provider"), "b") << refused.body;

  const nlohmann::json after = Explain({"--model", "claude-test-1"});
  EXPECT_EQ(after.value("first_provider", ""), "b") << after.dump();
  EXPECT_EQ(after.value("first_key", ""), common::FingerprintOf("sk-prov-b1"));
  const nlohmann::json key = Ranked(after, "a")["keys"][0];
  EXPECT_EQ(key.value("state", ""), "auth_failed") << key.dump();
  EXPECT_TRUE(key.value("disabled", false));
  EXPECT_FALSE(key.value("headroom", true));
  ASSERT_NO_FATAL_FAILURE(ExpectExplainedThenSent("after the 401"));
  EXPECT_EQ(a.request_count(), 1u);
}

TEST_F(RouteExplainTest, AKeyCooledByA429MovesTheExplainedFirstChoice) {
  FakeUpstream a;
  FakeUpstream b;
  a.SetHandler(RateLimitedScript(30));
  RelayConfig config;
  config.providers = {ProviderFor("a", a, {"sk-prov-a1"}), ProviderFor("b", b, {"sk-prov-b1"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  HttpResponse cooled = Post("/v1/messages", MessageBody());
  EXPECT_EQ(cooled.Header("x-cc-relay-provider"), "b") << cooled.body;

  const nlohmann::json e = Explain({"--model", "claude-test-1"});
  EXPECT_EQ(e.value("first_provider", ""), "b") << e.dump();
  const nlohmann::json key = Ranked(e, "a")["keys"][0];
  EXPECT_EQ(key.value("state", ""), "rate_limited") << key.dump();
  EXPECT_FALSE(key.value("headroom", true));
  const int64_t cooling = std::stoll(key.value("available_in_ms", "0"));
  EXPECT_GT(cooling, 0) << key.dump();
  EXPECT_LE(cooling, 30000) << key.dump();
  ASSERT_NO_FATAL_FAILURE(ExpectExplainedThenSent("after the 429"));
  EXPECT_EQ(a.request_count(), 1u);
}

TEST_F(RouteExplainTest, ASessionsAffinityTargetIsExplainedFirstAsTheRequestThenGoes) {
  FakeUpstream a;
  RelayConfig config;
  config.providers = {ProviderFor("a", a, {"sk-prov-a1", "sk-prov-a2"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  Headers with_session = ClientHeaders();
  with_session.emplace_back("x-claude-code-session-id", "session-one");

  // The session's first request lands on some key; the wheel then moves on, but the session
  // stays: explain names the session's key and says why, and the request goes there again.
  HttpResponse first = Post("/v1/messages", MessageBody(), with_session);
  ASSERT_EQ(first.status, 200) << first.error << first.body;
  const std::string session_key = first.Header("x-cc-relay-key").value_or("");
  ASSERT_FALSE(session_key.empty());
  const nlohmann::json e = Explain({"--model", "claude-test-1", "--header",
                                    "x-claude-code-session-id: session-one"});
  EXPECT_EQ(e.value("first_key", ""), session_key) << e.dump();
  EXPECT_THAT(e.value("first_reason", ""), HasSubstr("session affinity")) << e.dump();
  HttpResponse again = Post("/v1/messages", MessageBody(), with_session);
  ASSERT_EQ(again.status, 200) << again.error << again.body;
  EXPECT_EQ(again.Header("x-cc-relay-key").value_or(""), session_key);

  // Without the session the wheel's next key, not the session's, is named.
  const nlohmann::json plain = Explain({"--model", "claude-test-1"});
  EXPECT_THAT(plain.value("first_reason", ""), HasSubstr("first key with headroom")) << plain.dump();
}

TEST_F(RouteExplainTest, NoCandidateSaysWhy) {
  FakeUpstream a;
  a.SetHandler(RateLimitedScript(30));
  RelayConfig config = OneProvider(a, {"sk-prov-a1"});
  config.max_attempts = 1;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  EXPECT_EQ(Post("/v1/messages", MessageBody()).status, 429);
  const nlohmann::json e = Explain({"--model", "claude-test-1"});
  EXPECT_EQ(e.value("first_provider", "x"), "") << e.dump();
  EXPECT_THAT(e.value("first_reason", ""), HasSubstr("rate limited")) << e.dump();
}

TEST_F(RouteExplainTest, TableJsonDirectAdminAndUsage) {
  FakeUpstream a;
  RelayConfig config;
  config.providers = {ProviderFor("anthropic-fallback", a, {"sk-prov-a1"})};
  ProviderSpec local = ProviderFor("local", a, {}, "ollama");
  local.models = {"qwen3"};
  config.providers.push_back(local);
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  const CommandResult table = Ctl({"route", "explain", "--model", "claude-test-1"});
  ASSERT_EQ(table.exit_code, 0) << table.out << table.err;
  EXPECT_THAT(table.out, HasSubstr("strategy:    failover"));
  EXPECT_THAT(table.out, HasSubstr("rule:        (none)"));
  EXPECT_THAT(table.out, HasSubstr("RANK  PROVIDER"));
  EXPECT_THAT(table.out, HasSubstr("1     anthropic-fallback"));
  EXPECT_THAT(table.out, HasSubstr(common::FingerprintOf("sk-prov-a1")));
  EXPECT_THAT(table.out, HasSubstr("Excluded:"));
  EXPECT_THAT(table.out, HasSubstr("local     does not serve model claude-test-1"));
  EXPECT_EQ(table.out.find("sk-prov-a1"), std::string::npos) << "a secret in the output";

  // A body from standard input, read as the relay reads it.
  const std::string body = MessageBody("qwen3");
  const CommandResult piped =
      Ctl({"--output", "json", "route", "explain", "--file", "-"}, body);
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  const nlohmann::json pj = ParseJson(piped.out);
  EXPECT_EQ(pj["request"].value("max_tokens", ""), "1024") << piped.out;
  EXPECT_EQ(pj["request"].value("input_tokens", ""), std::to_string(body.size() / 4));

  // Directly to the data plane's admin API (its address from dataplanes list).
  const CommandResult listed = Ctl({"--output", "json", "dataplanes", "list"});
  const nlohmann::json dps = ParseJson(listed.out);
  ASSERT_EQ(dps["data_planes"].size(), 1u) << listed.out;
  const std::string admin = dps["data_planes"][0].value("admin_address", "");
  const CommandResult direct = RunCommand({CCR_RELAYCTL_BINARY, "-o", "json", "route", "explain",
                                           "--model", "qwen3", "--addr", admin});
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  const nlohmann::json dj = ParseJson(direct.out);
  EXPECT_EQ(dj.value("data_plane_id", ""), dps["data_planes"][0].value("id", ""));
  EXPECT_EQ(dj["ranked"][0].value("name", ""), "local") << direct.out;
  EXPECT_EQ(dj.value("first_reason", ""), "passthrough: the client's own credentials");

  // Errors: usage 2, a refused request or an unknown data plane 1.
  EXPECT_EQ(Ctl({"route", "explain"}).exit_code, 2);
  EXPECT_EQ(Ctl({"route", "explain", "--model", "m", "--file", "f"}).exit_code, 2);
  EXPECT_EQ(Ctl({"route", "frobnicate"}).exit_code, 2);
  EXPECT_EQ(Ctl({"route", "explain", "--header", "no-colon", "--model", "m"}).exit_code, 2);
  const CommandResult help = Ctl({"route", "explain", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--data-plane ID"));
  const CommandResult bad_body = Ctl({"route", "explain", "--file", "-"}, "{\"max_tokens\":1}");
  EXPECT_EQ(bad_body.exit_code, 1);
  EXPECT_THAT(bad_body.err, HasSubstr("INVALID_ARGUMENT"));
  const CommandResult unknown =
      Ctl({"route", "explain", "--model", "m", "--data-plane", "no-such-dp"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("NOT_FOUND"));
}

// The split deployment on one host with the shared token: the control plane forwards to the
// named data plane's admin API, presenting its own token.
TEST(RouteExplainDistributedTest, TheControlPlaneForwardsToTheNamedDataPlane) {
  TempDir dir;
  FakeUpstream fake;
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-prov-a1"})};
  const std::string config_path = dir.WriteFile("config.yaml", config.ToYaml());
  const std::string token_file = dir.WriteFile("token", "explain-shared-token\n");
  ChildProcess cp;
  ASSERT_TRUE(cp.Start({CCR_RELAY_BINARY, "control-plane", "--config", config_path, "--listen",
                        "127.0.0.1:0", "--token-file", token_file}))
      << cp.error();
  const std::optional<std::string> cp_port =
      cp.WaitForValue("control_plane_listening address=127.0.0.1:", kStartTimeout);
  ASSERT_TRUE(cp_port.has_value()) << cp.log();
  const std::string cp_addr = "127.0.0.1:" + *cp_port;
  std::vector<std::unique_ptr<ChildProcess>> dps;
  for (const char* id : {"dp-one", "dp-two"}) {
    dps.push_back(std::make_unique<ChildProcess>());
    ASSERT_TRUE(dps.back()->Start({CCR_RELAY_BINARY, "data-plane", "--control-plane", cp_addr,
                                   "--listen", "127.0.0.1:0", "--id", id, "--token-file",
                                   token_file}));
    ASSERT_TRUE(dps.back()->WaitForLog("snapshot_applied version=", kStartTimeout))
        << dps.back()->log();
  }
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> full = {CCR_RELAYCTL_BINARY, "--control-plane", cp_addr,
                                     "--token-file", token_file, "-o", "json"};
    full.insert(full.end(), args.begin(), args.end());
    return RunCommand(full);
  };
  const CommandResult two = ctl({"route", "explain", "--model", "claude-test-1"});
  EXPECT_EQ(two.exit_code, 1) << two.out;
  EXPECT_THAT(two.err, HasSubstr("--data-plane")) << "two connected: one must be named";
  for (const char* id : {"dp-one", "dp-two"}) {
    const CommandResult r =
        ctl({"route", "explain", "--model", "claude-test-1", "--data-plane", id});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = ParseJson(r.out);
    EXPECT_EQ(j.value("data_plane_id", ""), id);
    EXPECT_EQ(j.value("first_provider", ""), "a") << r.out;
  }
  EXPECT_EQ(fake.request_count(), 0u) << "explain sent something upstream";
  for (auto& dp : dps) {
    EXPECT_EQ(dp->Stop(milliseconds(10000)), std::optional<int>(0));
  }
  EXPECT_EQ(cp.Stop(milliseconds(10000)), std::optional<int>(0));
}

}  // namespace
}  // namespace ccrelay::testing
