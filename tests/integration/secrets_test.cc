// No secret ever leaves the relay through what operators see. Traffic with known keys (pooled
// provider keys, the relay's api_key and bearer secret, a client's own subscription token, a
// wrong client key) and known token counts; then every log line (text and JSON, at debug
// level), every metric and every response header and body is searched for each key: none may
// appear. Positive controls make sure the sources are real (fingerprints and token counts do
// appear), and cc-relayctl's outputs. To search another output, add one AddSource(...) line.
#include <csignal>
#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/metrics_text.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

// Each secret ends in a distinctive token, searched on its own too: a truncated leak is a leak.
struct KnownSecret {
  const char* what;
  std::string value;
  std::string token;
};

KnownSecret Make(const char* what, const char* prefix, const char* token) {
  return KnownSecret{what, std::string(prefix) + token, token};
}

const std::vector<KnownSecret>& Secrets() {
  static const std::vector<KnownSecret> kSecrets = {
      Make("provider key 1", "sk-ant-api03-", "Pk1vQ7zLm3XwR9tB2nYc"),
      Make("provider key 2", "sk-ant-api03-", "Pk2hG5sD8fJ1kL4qW6eR"),
      Make("relay api_key", "ccr-proxy-", "Ax9mN3bV6cZ2xL8kJ4hG"),
      Make("relay bearer_secret", "ccr-bearer-", "Bs7tY1uI5oP3aS9dF2gH"),
      Make("client subscription token", "sk-ant-oat01-", "Ct4jK8lZ2xC6vB1nM5qW"),
      Make("wrong client key", "sk-ant-api03-", "Wk3eR7tY1uI9oP5aS2dF"),
  };
  return kSecrets;
}
const std::string& ProviderKey1() { return Secrets()[0].value; }
const std::string& ProviderKey2() { return Secrets()[1].value; }
const std::string& ProxyKey() { return Secrets()[2].value; }
const std::string& BearerSecret() { return Secrets()[3].value; }
const std::string& ClientToken() { return Secrets()[4].value; }
const std::string& WrongKey() { return Secrets()[5].value; }

Headers WithAuth(std::string name, std::string value) {
  Headers h = {{"content-type", "application/json"}, {"anthropic-version", "2023-06-01"}};
  h.emplace_back(std::move(name), std::move(value));
  return h;
}

std::string HeadersText(const HttpResponse& r) {
  std::string out = "status " + std::to_string(r.status) + "\n";
  for (const auto& [name, value] : r.headers) {
    out += name + ": " + value + "\n";
  }
  return out;
}

class SecretsTest : public RelayTest {
 protected:
  // One more output to search.
  void AddSource(std::string name, std::string text) {
    sources_.push_back({std::move(name), std::move(text)});
  }

  // A pool provider with two keys, a passthrough provider (the client's own token), the relay's
  // auth methods all on.
  std::string Config(bool json_in_config) const {
    RelayConfig c;
    c.auth.api_key = ProxyKey();
    c.auth.allow_subscription = true;
    c.auth.allow_bearer = true;
    c.auth.bearer_secret = BearerSecret();
    ProviderSpec pool = ProviderFor("pool", fake_, {ProviderKey1(), ProviderKey2()});
    ProviderSpec pass = ProviderFor("pass", fake_);
    pass.models = {"claude-pass-1"};
    c.providers = {pool, pass};
    std::string yaml = c.ToYaml();
    yaml += json_in_config ? "logging:\n  level: debug\n  format: json\n"
                           : "logging:\n  level: debug\n";
    return yaml;
  }

  // Runs the traffic, scrapes /metrics, stops the relay; adds every output as a source.
  void RunTraffic(const std::string& label, const std::string& yaml,
                  const std::vector<std::string>& args) {
    relay_ = std::make_unique<RelayProcess>();
    ASSERT_TRUE(relay_->Start(yaml, args)) << relay_->error() << "\n" << relay_->log();
    std::vector<HttpResponse> responses;
    auto keep = [&](HttpResponse r) {
      responses.push_back(r);
      return r;
    };
    // The relay's api_key, streaming and not; a 429 on the first key fails over to the other.
    EXPECT_EQ(keep(Post("/v1/messages", MessageBody(), WithAuth("x-api-key", ProxyKey()))).status,
              200);
    EXPECT_EQ(keep(Post("/v1/messages", MessageBody("claude-test-1", true),
                        WithAuth("x-api-key", ProxyKey())))
                  .status,
              200);
    fake_.EnqueueHandler(RateLimitedScript(30));
    HttpResponse failed_over =
        keep(Post("/v1/messages", MessageBody(), WithAuth("x-api-key", ProxyKey())));
    EXPECT_EQ(failed_over.status, 200);
    EXPECT_EQ(failed_over.Header("x-cc-relay-attempts"), "2");
    // The relay's bearer secret; count_tokens.
    EXPECT_EQ(keep(Post("/v1/messages", MessageBody(),
                        WithAuth("authorization", "Bearer " + BearerSecret())))
                  .status,
              200);
    fake_.EnqueueHandler(JsonScript(200, R"({"input_tokens":42})"));
    EXPECT_EQ(
        keep(Post("/v1/messages/count_tokens", MessageBody(), WithAuth("x-api-key", ProxyKey())))
            .status,
        200);
    // A client's own subscription token, passed through to the keyless provider.
    const size_t before = fake_.request_count();
    EXPECT_EQ(keep(Post("/v1/messages", MessageBody("claude-pass-1"),
                        WithAuth("authorization", "Bearer " + ClientToken())))
                  .status,
              200);
    ASSERT_TRUE(fake_.WaitForRequests(before + 1, milliseconds(5000)));
    EXPECT_EQ(fake_.requests().back().Header("authorization"), "Bearer " + ClientToken())
        << "the passthrough did not use the client's token: the test would prove nothing";
    // A wrong key is rejected; a malformed body with a good key too.
    EXPECT_EQ(keep(Post("/v1/messages", MessageBody(), WithAuth("x-api-key", WrongKey()))).status,
              401);
    EXPECT_EQ(keep(Post("/v1/messages", "{not json", WithAuth("x-api-key", ProxyKey()))).status,
              400);
    // Upstream failure on every attempt: the error answer is relayed as is.
    EXPECT_EQ(
        keep(Post("/v1/messages", MessageBody("claude-fail-1"), WithAuth("x-api-key", ProxyKey())))
            .status,
        500);

    HttpResponse metrics = keep(Get("/metrics"));
    ASSERT_EQ(metrics.status, 200);
    AddSource(label + " /metrics", metrics.body);
    std::string headers;
    std::string bodies;
    for (const HttpResponse& r : responses) {
      headers += HeadersText(r);
      bodies += r.body + "\n";
    }
    AddSource(label + " response headers", headers);
    AddSource(label + " response bodies", bodies);
    // Every read-only cc-relayctl command against the relay's control plane, both outputs.
    const std::string log_text = relay_->log();
    // Text ("control_plane_listening address=H:P") or JSON ("address":"H:P") log line.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        log_text, m, std::regex(R"(control_plane_listening[^\n]*?address[=":]+([0-9.:\[\]]+))")))
        << "no control plane address in the log";
    const std::string cp = m[1].str();
    const std::vector<std::vector<std::string>> commands = {
        {"providers", "list"}, {"keys", "list"},  {"dataplanes", "list"},
        {"stats"},             {"config", "show"}, {"config", "status"}};
    for (const char* output : {"table", "json"}) {
      for (const auto& command : commands) {
        std::vector<std::string> argv = {CCR_RELAYCTL_BINARY, "--control-plane", cp, "--output",
                                         output};
        argv.insert(argv.end(), command.begin(), command.end());
        CommandResult r = RunCommand(argv);
        EXPECT_EQ(r.exit_code, 0) << argv[5] << ": " << r.output();
        AddSource(label + " cc-relayctl " + output + " " + argv[5], r.output());
      }
    }
    ASSERT_EQ(relay_->Stop(), std::optional<int>(0));
    AddSource(label + " log", relay_->log());
  }

  void ExpectNoSecretInAnySource() {
    ASSERT_FALSE(sources_.empty());
    for (const auto& [name, text] : sources_) {
      EXPECT_FALSE(text.empty()) << name << " is empty: nothing was searched";
      for (const KnownSecret& s : Secrets()) {
        EXPECT_EQ(text.find(s.token), std::string::npos)
            << "the " << s.what << " leaked into " << name << ":\n"
            << text;
      }
    }
  }

  const std::string& SourceText(const std::string& name) const {
    for (const auto& [n, text] : sources_) {
      if (n == name) {
        return text;
      }
    }
    static const std::string kNone;
    return kNone;
  }

  FakeUpstream fake_;
  std::vector<std::pair<std::string, std::string>> sources_;
};

TEST_F(SecretsTest, NoKeyInLogsMetricsOrResponseHeaders) {
  fake_.SetHandler([](const RecordedRequest& req, Responder& r) {
    if (req.body.find("claude-fail-1") != std::string::npos) {
      InternalErrorScript()(req, r);
    } else if (req.body.find("\"stream\":true") != std::string::npos) {
      StreamScript({})(req, r);
    } else {
      MessageScript("claude-test-1")(req, r);
    }
  });
  ASSERT_NO_FATAL_FAILURE(RunTraffic("text", Config(false), {}));
  ASSERT_NO_FATAL_FAILURE(RunTraffic("json", Config(false), {"--log-format", "json"}));
  ASSERT_NO_FATAL_FAILURE(RunTraffic("json-config", Config(true), {}));
  relay_.reset();  // stopped already

  ExpectNoSecretInAnySource();

  // Positive controls: the sources hold what they should, by fingerprint and with the tokens.
  const std::string fp1 = common::FingerprintOf(ProviderKey1());
  const std::string fp2 = common::FingerprintOf(ProviderKey2());
  for (const char* label : {"text", "json", "json-config"}) {
    const std::string& log = SourceText(std::string(label) + " log");
    EXPECT_NE(log.find(fp1), std::string::npos) << label;
    EXPECT_NE(log.find(fp2), std::string::npos) << label;
    EXPECT_NE(log.find("upstream_attempt_failed"), std::string::npos) << label;
    EXPECT_NE(log.find("auth_failed"), std::string::npos) << label;
    const std::string& metrics = SourceText(std::string(label) + " /metrics");
    EXPECT_NE(metrics.find("key=\"" + fp1 + "\""), std::string::npos) << label;
    EXPECT_NE(metrics.find("type=\"input\"} "), std::string::npos) << label;
    EXPECT_NE(SourceText(std::string(label) + " response headers").find("x-cc-relay-key: "),
              std::string::npos);
  }
  EXPECT_NE(SourceText("text log").find("input_tokens=25"), std::string::npos);
  EXPECT_NE(SourceText("json log").find(R"("input_tokens":"25")"), std::string::npos);
  // The JSON runs write nothing but JSON objects, one per line. With logging.format in the
  // config (not the flag), the lines before the config is applied may still be text: checked
  // from the listening line on.
  for (const char* label : {"json log", "json-config log"}) {
    std::string log = SourceText(label);
    if (std::string_view(label) == "json-config log") {
      const size_t listening = log.find(R"("event":"listening")");
      ASSERT_NE(listening, std::string::npos) << log;
      log = log.substr(log.rfind('\n', listening) + 1);
    }
    size_t pos = 0;
    size_t lines = 0;
    while (pos < log.size()) {
      const size_t end = log.find('\n', pos);
      const std::string line = log.substr(pos, end - pos);
      pos = end == std::string::npos ? log.size() : end + 1;
      ++lines;
      EXPECT_TRUE(ParseJson(line).is_object()) << label << ": not a JSON object: " << line;
    }
    EXPECT_GT(lines, 10u) << label;
  }
}

}  // namespace
}  // namespace ccrelay::testing
