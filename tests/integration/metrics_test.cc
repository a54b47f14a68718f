// GET /metrics of a real `cc-relay serve` after real traffic through it: the values, the
// exposition checked by the real `promtool check metrics`, the separate metrics listener, and
// the deploy/ files (Prometheus scrape config checked by `promtool check config`, the Grafana
// dashboard using only documented metrics). promtool comes from the Debian package
// `prometheus`; without it these tests fail (they do not skip).
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/metrics_text.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

std::string Promtool() {
  const std::string path = FindInPath("promtool");
  EXPECT_FALSE(path.empty())
      << "promtool is not installed (Debian package `prometheus`): the exposition cannot be "
         "checked";
  return path;
}

std::string ReadSourceFile(const std::string& relative) {
  std::ifstream in(std::string(CCR_SOURCE_DIR) + "/" + relative);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The "## <n>. Metrics" section of SPEC.md (up to the next "## " heading).
std::string SpecMetricsSection() {
  const std::string spec = ReadSourceFile("SPEC.md");
  std::smatch m;
  if (!std::regex_search(spec, m, std::regex(R"(\n## [0-9]+\. Metrics\n)"))) {
    return "";
  }
  const size_t start = static_cast<size_t>(m.position(0)) + 1;
  const size_t end = spec.find("\n## ", start);
  return spec.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string InsertBefore(std::string text, std::string_view marker, std::string_view insert) {
  const size_t at = text.find(marker);
  EXPECT_NE(at, std::string::npos) << marker;
  if (at != std::string::npos) {
    text.insert(at, insert);
  }
  return text;
}

// A non-streaming Message whose usage has every kind of token.
std::string MessageWithCacheUsage() {
  return R"({"id":"msg_cache","type":"message","role":"assistant","model":"claude-test-1",)"
         R"("content":[{"type":"text","text":"cached"}],"stop_reason":"end_turn",)"
         R"("stop_sequence":null,"usage":{"input_tokens":100,"output_tokens":50,)"
         R"("cache_creation_input_tokens":20,"cache_read_input_tokens":300}})";
}

class MetricsTest : public RelayTest {
 protected:
  HttpResponse Scrape() { return Get("/metrics"); }

  // Scrapes until `pred` holds for the samples (the request's metrics are recorded as its
  // response completes, which the client may see a moment earlier), up to a deadline.
  std::map<std::string, double> ScrapeUntil(
      const std::function<bool(const std::map<std::string, double>&)>& pred,
      std::string* text = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
    std::map<std::string, double> samples;
    do {
      HttpResponse r = Scrape();
      EXPECT_EQ(r.status, 200) << r.error;
      samples = ParseSamples(r.body);
      if (text != nullptr) {
        *text = r.body;
      }
      if (pred(samples)) {
        break;
      }
    } while (std::chrono::steady_clock::now() < deadline);
    return samples;
  }
};

TEST_F(MetricsTest, TrafficIsCountedAndTheExpositionPassesPromtool) {
  FakeUpstream fake;
  fake.SetHandler(MessageScript("claude-test-1"));
  RelayConfig config = OneProvider(fake, {"sk-metrics-key-one", "sk-metrics-key-two"});
  const std::string yaml =
      InsertBefore(config.ToYaml(), "routing:\n",
                   "    pricing:\n"
                   "      \"claude-test-*\": {input_per_mtok: 2, output_per_mtok: 10, "
                   "cache_read_per_mtok: 0.2, cache_write_per_mtok: 2.5}\n");
  relay_ = std::make_unique<RelayProcess>();
  ASSERT_TRUE(relay_->Start(yaml)) << relay_->error() << "\n" << relay_->log();

  // 3 plain messages (25 in, 15 out each).
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Post("/v1/messages", MessageBody()).status, 200);
  }
  // 1 message with cache usage (100 in, 50 out, 20 cache creation, 300 cache read).
  fake.EnqueueHandler(JsonScript(200, MessageWithCacheUsage()));
  ASSERT_EQ(Post("/v1/messages", MessageBody()).status, 200);
  // 2 streams (25 in, 15 out each).
  for (int i = 0; i < 2; ++i) {
    fake.EnqueueHandler(StreamScript({}));
    HttpResponse r = Post("/v1/messages", MessageBody("claude-test-1", true));
    ASSERT_EQ(r.status, 200);
    ASSERT_NE(r.body.find("message_stop"), std::string::npos);
  }
  // 1 message whose first attempt gets a 429 (the other key answers: 25 in, 15 out).
  fake.EnqueueHandler(RateLimitedScript(30));
  HttpResponse retried = Post("/v1/messages", MessageBody());
  ASSERT_EQ(retried.status, 200);
  EXPECT_EQ(retried.Header("x-cc-relay-attempts"), "2");
  // 1 request the relay answers itself.
  EXPECT_EQ(Get("/no/such/path").status, 404);

  const std::string ok =
      R"(ccrelay_requests_total{provider="a",model="claude-test-1",status="200"})";
  std::string text;
  const auto samples = ScrapeUntil([&](const auto& s) { return SampleOf(s, ok) == 7.0; }, &text);
  EXPECT_EQ(SampleOf(samples, ok), 7.0) << text;
  EXPECT_EQ(SampleOf(samples, R"(ccrelay_requests_total{provider="",model="",status="404"})"), 1.0);

  const std::string pm = R"(provider="a",model="claude-test-1")";
  auto tokens = [&](const char* type) {
    return SampleOf(samples, "ccrelay_tokens_total{" + pm + ",type=\"" + type + "\"}");
  };
  EXPECT_EQ(tokens("input"), 25.0 * 3 + 100 + 25 * 2 + 25);
  EXPECT_EQ(tokens("output"), 15.0 * 3 + 50 + 15 * 2 + 15);
  EXPECT_EQ(tokens("cache_creation"), 20.0);
  EXPECT_EQ(tokens("cache_read"), 300.0);
  const std::optional<double> cost = SampleOf(samples, "ccrelay_cost_usd_total{" + pm + "}");
  ASSERT_TRUE(cost.has_value()) << text;
  EXPECT_NEAR(*cost, (250 * 2 + 140 * 10 + 300 * 0.2 + 20 * 2.5) / 1e6, 1e-12);

  EXPECT_EQ(SampleOf(samples, "gen_ai_server_request_duration_seconds_count{" + pm + "}"), 7.0);
  EXPECT_EQ(SampleOf(samples, "gen_ai_server_time_to_first_token_seconds_count{" + pm + "}"), 7.0);
  EXPECT_EQ(
      SampleOf(samples, "gen_ai_server_time_to_first_token_seconds_bucket{" + pm + ",le=\"+Inf\"}"),
      7.0);
  EXPECT_EQ(SampleOf(samples, R"(ccrelay_retries_total{provider="a"})"), 1.0);
  EXPECT_EQ(SampleOf(samples, R"(ccrelay_failovers_total{provider="a"})"), 1.0);
  EXPECT_EQ(
      SampleOf(samples, R"(ccrelay_upstream_errors_total{provider="a",reason="rate_limited"})"),
      1.0);
  EXPECT_EQ(SampleOf(samples, "ccrelay_active_streams"), 0.0);
  EXPECT_GE(SampleOf(samples, "ccrelay_open_connections").value_or(0), 1.0);  // the scrape's own
  EXPECT_GE(SampleOf(samples, "ccrelay_snapshot_version").value_or(0), 1.0);
  EXPECT_EQ(SampleOf(samples, "ccrelay_build_info{version=\"" CCR_VERSION "\"}"), 1.0);
  // Per key (by fingerprint): 8 attempts in all, the 429 one failed and cools its key.
  EXPECT_EQ(SumOf(samples, "ccrelay_key_requests_total"), 8.0);
  EXPECT_EQ(SumOf(samples, "ccrelay_key_failures_total"), 1.0);
  EXPECT_EQ(SumOf(samples, "ccrelay_key_state", {"state=\"cooling\""}), 1.0) << text;
  EXPECT_EQ(text.find("sk-metrics-key"), std::string::npos) << "a key leaked into /metrics";

  // The real Prometheus tooling accepts it, lint included.
  const std::string promtool = Promtool();
  ASSERT_FALSE(promtool.empty());
  const CommandResult check = RunCommand({promtool, "check", "metrics"}, text);
  EXPECT_EQ(check.exit_code, 0) << check.output() << "\n" << text;
  EXPECT_EQ(check.output(), "") << check.output();

  // Every family exposed is documented in SPEC.md's Metrics section.
  const std::string spec = SpecMetricsSection();
  ASSERT_FALSE(spec.empty()) << "SPEC.md has no \"## <n>. Metrics\" section";
  for (const std::string& family : MetricFamilies(text)) {
    EXPECT_NE(spec.find("`" + family + "`"), std::string::npos)
        << family << " is not documented in SPEC.md";
  }
}

TEST_F(MetricsTest, ServedWithTheExpositionContentTypeWithoutAuth) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake);
  config.auth.api_key = "sk-relay-secret-for-metrics";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse r = Scrape();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("# TYPE ccrelay_build_info gauge"), std::string::npos);
  EXPECT_EQ(Fetch(port(), "HEAD", "/metrics").status, 200);
  HttpResponse post = Post("/metrics", "", {});
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.Header("allow"), "GET, HEAD");
}

TEST_F(MetricsTest, SeparateMetricsListenerServesOnlyMetricsAndHealth) {
  FakeUpstream fake;
  fake.SetHandler(MessageScript("claude-test-1"));
  const std::string yaml = OneProvider(fake).ToYaml() + "metrics:\n  listen: \"127.0.0.1:0\"\n";
  relay_ = std::make_unique<RelayProcess>();
  ASSERT_TRUE(relay_->Start(yaml)) << relay_->error() << "\n" << relay_->log();
  const std::string log = relay_->log();
  const std::string marker = "metrics_address=127.0.0.1:";
  const size_t at = log.find(marker);
  ASSERT_NE(at, std::string::npos) << log;
  const uint16_t metrics_port = static_cast<uint16_t>(std::stoi(log.substr(at + marker.size(), 5)));
  ASSERT_NE(metrics_port, port());

  ASSERT_EQ(Post("/v1/messages", MessageBody()).status, 200);
  HttpResponse health = Fetch(metrics_port, "GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find("\"status\":\"ok\""), std::string::npos);
  HttpResponse relay = Fetch(metrics_port, "POST", "/v1/messages", ClientHeaders(), MessageBody());
  EXPECT_EQ(relay.status, 404);
  EXPECT_TRUE(IsAnthropicError(relay.body, "not_found_error"));
  EXPECT_EQ(fake.request_count(), 1u) << "the metrics listener relayed a request";

  const std::string ok =
      R"(ccrelay_requests_total{provider="a",model="claude-test-1",status="200"})";
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  std::map<std::string, double> samples;
  do {
    HttpResponse r = Fetch(metrics_port, "GET", "/metrics");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    samples = ParseSamples(r.body);
  } while (SampleOf(samples, ok) != 1.0 && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(SampleOf(samples, ok), 1.0);
  // The client listener serves /metrics as well.
  EXPECT_EQ(Scrape().status, 200);
}

TEST(DeployTest, PrometheusScrapeConfigPassesPromtool) {
  const std::string promtool = Promtool();
  ASSERT_FALSE(promtool.empty());
  const CommandResult check =
      RunCommand({promtool, "check", "config",
                  std::string(CCR_SOURCE_DIR) + "/deploy/prometheus/prometheus.yml"});
  EXPECT_EQ(check.exit_code, 0) << check.output();
  EXPECT_NE(check.output().find("SUCCESS"), std::string::npos) << check.output();
}

TEST(DeployTest, GrafanaDashboardUsesOnlyDocumentedMetrics) {
  const nlohmann::json dashboard = ParseJson(ReadSourceFile("deploy/grafana/cc-relay.json"));
  ASSERT_TRUE(dashboard.is_object()) << "deploy/grafana/cc-relay.json is not valid JSON";
  ASSERT_TRUE(dashboard.contains("panels"));
  EXPECT_EQ(dashboard.value("title", ""), "cc-relay");
  const std::string spec = SpecMetricsSection();
  ASSERT_FALSE(spec.empty());
  const std::regex metric(R"(\b((ccrelay|gen_ai)_[a-z_]+?)(_bucket|_sum|_count)?\b)");
  std::set<std::string> used;
  std::set<int> ids;
  size_t targets = 0;
  for (const auto& panel : dashboard["panels"]) {
    ASSERT_TRUE(panel.contains("id"));
    EXPECT_TRUE(ids.insert(panel["id"].get<int>()).second) << "duplicate panel id";
    if (!panel.contains("targets")) {
      continue;
    }
    for (const auto& target : panel["targets"]) {
      const std::string expr = target.value("expr", "");
      ++targets;
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric);
           it != std::sregex_iterator(); ++it) {
        used.insert((*it)[1].str());
      }
    }
  }
  EXPECT_GE(targets, 8u);
  for (const char* needed : {"ccrelay_requests_total", "gen_ai_server_request_duration_seconds",
                             "gen_ai_server_time_to_first_token_seconds", "ccrelay_tokens_total",
                             "ccrelay_cost_usd_total", "ccrelay_upstream_errors_total",
                             "ccrelay_active_streams", "ccrelay_key_rate_limit_remaining"}) {
    EXPECT_TRUE(used.count(needed) == 1) << "the dashboard does not show " << needed;
  }
  for (const std::string& name : used) {
    EXPECT_NE(spec.find("`" + name + "`"), std::string::npos)
        << "the dashboard uses " << name << ", which SPEC.md does not document";
  }
}

// An upstream error that goes back to the client because no other candidate is left is a failed
// attempt too: counted by reason and against its key, like one that was retried elsewhere.
TEST_F(MetricsTest, AnErrorReturnedForLackOfAnotherCandidateIsCounted) {
  FakeUpstream fake;
  fake.SetHandler(MessageScript("claude-test-1"));
  relay_ = std::make_unique<RelayProcess>();
  RelayConfig config = OneProvider(fake, {"sk-metrics-lone-key"});
  config.max_attempts = 1;  // a 529 would otherwise be tried again on the same provider
  ASSERT_TRUE(relay_->Start(config.ToYaml()))
      << relay_->error() << "\n" << relay_->log();
  fake.EnqueueHandler(InternalErrorScript());
  EXPECT_EQ(Post("/v1/messages", MessageBody()).status, 500);
  fake.EnqueueHandler(OverloadedScript());
  EXPECT_EQ(Post("/v1/messages", MessageBody()).status, 529);

  const std::string overloaded = R"(ccrelay_upstream_errors_total{provider="a",reason="overloaded"})";
  std::string text;
  const auto samples =
      ScrapeUntil([&](const auto& s) { return SampleOf(s, overloaded) == 1.0; }, &text);
  EXPECT_EQ(SampleOf(samples, overloaded), 1.0) << text;
  EXPECT_EQ(
      SampleOf(samples, R"(ccrelay_upstream_errors_total{provider="a",reason="server_error"})"),
      1.0)
      << text;
  EXPECT_EQ(SumOf(samples, "ccrelay_key_failures_total"), 2.0) << text;
}

}  // namespace
}  // namespace ccrelay::testing
