// The control plane's own HTTP listener (`--control-plane-http-listen`): GET /health for
// Kubernetes probes and GET /metrics, checked by the real `promtool check metrics` (the test
// fails, not skips, without promtool: Debian package `prometheus`).
#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <string>
#include <thread>

#include "gtest/gtest.h"

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/child_process.h"
#include "tests/fakes/metrics_text.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

constexpr std::string_view kHttpListening = "control_plane_http_listening address=127.0.0.1:";

class ControlPlaneMetricsTest : public RelayTest {
 protected:
  // The port of the control plane's HTTP listener, from its log line.
  uint16_t HttpPort() {
    EXPECT_TRUE(relay().WaitForLog(kHttpListening, milliseconds(5000))) << relay().log();
    const std::string log = relay().log();
    const size_t at = log.find(kHttpListening);
    if (at == std::string::npos) {
      return 0;
    }
    return static_cast<uint16_t>(std::stoi(log.substr(at + kHttpListening.size())));
  }

  // Scrapes until `pred` holds (data planes report their stats every so often).
  std::map<std::string, double> ScrapeUntil(
      uint16_t port, const std::function<bool(const std::map<std::string, double>&)>& pred,
      std::string* text) {
    const auto deadline = std::chrono::steady_clock::now() + milliseconds(10000);
    std::map<std::string, double> samples;
    do {
      HttpResponse r = Fetch(port, "GET", "/metrics");
      *text = r.body;
      samples = ParseSamples(r.body);
      if (r.status == 200 && pred(samples)) {
        break;
      }
      std::this_thread::sleep_for(milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return samples;
  }
};

std::string SpecMetricsSection() {
  std::ifstream in(std::string(CCR_SOURCE_DIR) + "/SPEC.md");
  const std::string spec((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::smatch m;
  if (!std::regex_search(spec, m, std::regex(R"(\n## [0-9]+\. Metrics\n)"))) {
    return "";
  }
  const size_t start = static_cast<size_t>(m.position(0)) + 1;
  const size_t end = spec.find("\n## ", start);
  return spec.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

TEST_F(ControlPlaneMetricsTest, HealthAndMetricsOnItsOwnListener) {
  FakeUpstream fake;
  fake.SetHandler(MessageScript("claude-test-1"));
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  const uint16_t http_port = HttpPort();
  ASSERT_NE(http_port, 0);
  ASSERT_NE(http_port, port()) << "the control plane's listener is not the data plane's";

  HttpResponse health = Fetch(http_port, "GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(ParseJson(health.body), nlohmann::json({{"status", "ok"}})) << health.body;
  EXPECT_EQ(Fetch(http_port, "GET", "/v1/messages").status, 404);
  HttpResponse post = Fetch(http_port, "POST", "/metrics");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.Header("allow"), "GET, HEAD");

  // One request through the data plane: its stats reach the control plane's totals.
  ASSERT_EQ(Post("/v1/messages", MessageBody()).status, 200);
  std::string text;
  const auto samples = ScrapeUntil(
      http_port,
      [](const auto& s) {
        return SampleOf(s, R"(ccrelay_aggregated_requests_total{provider="a"})") == 1.0 &&
               SampleOf(s, R"(ccrelay_data_planes{state="connected"})").value_or(0) >= 1 &&
               SampleOf(s, "ccrelay_usage_requests_committed_total") == 1.0;
      },
      &text);
  // Its usage is in the database: one record added (its minute's sum), nothing resent.
  EXPECT_EQ(SampleOf(samples, "ccrelay_usage_requests_committed_total"), 1.0) << text;
  EXPECT_EQ(SampleOf(samples, R"(ccrelay_usage_records_total{outcome="added"})"), 1.0) << text;
  EXPECT_EQ(SampleOf(samples, R"(ccrelay_usage_records_total{outcome="resent"})"), 0.0) << text;
  EXPECT_GE(SampleOf(samples, "ccrelay_usage_batches_committed_total").value_or(0), 1.0) << text;
  EXPECT_EQ(SampleOf(samples, "ccrelay_usage_commit_failures_total"), 0.0) << text;
  HttpResponse r = Fetch(http_port, "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(SampleOf(samples, R"(ccrelay_aggregated_requests_total{provider="a"})"), 1.0) << text;
  EXPECT_GE(SampleOf(samples, R"(ccrelay_data_planes{state="connected"})").value_or(0), 1.0)
      << text;
  EXPECT_GE(SampleOf(samples, "ccrelay_snapshot_version").value_or(0), 1.0) << text;
  EXPECT_EQ(SampleOf(samples, "ccrelay_build_info{version=\"" CCR_VERSION "\"}"), 1.0) << text;
  EXPECT_GT(SumOf(samples, "ccrelay_aggregated_tokens_total", {"type=\"output\""}), 0.0) << text;
  EXPECT_EQ(SampleOf(samples, R"(ccrelay_config_reloads_total{outcome="ok"})"), 0.0) << text;
  EXPECT_EQ(text.find("sk-prov-a1"), std::string::npos) << "a key leaked into /metrics";

  const std::string promtool = FindInPath("promtool");
  ASSERT_FALSE(promtool.empty())
      << "promtool is not installed (Debian package `prometheus`): the exposition cannot be "
         "checked";
  const CommandResult check = RunCommand({promtool, "check", "metrics"}, text);
  EXPECT_EQ(check.exit_code, 0) << check.output() << "\n" << text;
  EXPECT_EQ(check.output(), "") << check.output();

  const std::string spec = SpecMetricsSection();
  ASSERT_FALSE(spec.empty());
  for (const std::string& family : MetricFamilies(text)) {
    EXPECT_NE(spec.find("`" + family + "`"), std::string::npos)
        << family << " is not documented in SPEC.md";
  }
}

TEST_F(ControlPlaneMetricsTest, CountsReloadsByOutcome) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  const uint16_t http_port = HttpPort();
  ASSERT_NE(http_port, 0);
  std::string text;

  relay().Signal(SIGHUP);  // the same file: accepted
  auto samples = ScrapeUntil(
      http_port,
      [](const auto& s) {
        return SampleOf(s, R"(ccrelay_config_reloads_total{outcome="ok"})") == 1.0;
      },
      &text);
  EXPECT_EQ(SampleOf(samples, R"(ccrelay_config_reloads_total{outcome="ok"})"), 1.0) << text;
  EXPECT_EQ(SampleOf(samples, R"(ccrelay_config_reloads_total{outcome="rejected"})"), 0.0);

  {
    std::ofstream out(relay().config_path(), std::ios::trunc);
    out << "providers: [\n";  // not YAML
  }
  relay().Signal(SIGHUP);
  samples = ScrapeUntil(
      http_port,
      [](const auto& s) {
        return SampleOf(s, R"(ccrelay_config_reloads_total{outcome="rejected"})").value_or(0) >= 1;
      },
      &text);
  EXPECT_GE(SampleOf(samples, R"(ccrelay_config_reloads_total{outcome="rejected"})").value_or(0),
            1.0)
      << text;
  EXPECT_EQ(SampleOf(samples, R"(ccrelay_config_reloads_total{outcome="ok"})"), 1.0) << text;
  EXPECT_EQ(Fetch(http_port, "GET", "/health").status, 200);
}

}  // namespace
}  // namespace ccrelay::testing
