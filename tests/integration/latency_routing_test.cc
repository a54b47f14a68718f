// routing.strategy: latency-based through the relay, against fake upstreams whose time to first
// byte the test scripts: a provider made slow loses its traffic within a bounded number of
// requests, keeps the exploration share, and gets its traffic back when fast again; and, split
// into a control plane and two data planes, a data plane that saw no traffic ranks like the one
// that did, from the control plane's shared estimates. Counts of where requests went only: no
// timed assertion.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "tests/fakes/child_process.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/metrics_text.h"
#include "tests/fakes/relay_config.h"
#include "tests/fakes/relay_fixture.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

// Well above loopback noise and the strategy's 50 ms tie margin.
constexpr int kSlowMs = 300;

// A streamed answer after `delay_ms` (read per request, so a test can change it).
Handler DelayedStream(std::shared_ptr<std::atomic<int>> delay_ms) {
  Handler stream = StreamScript({});
  return [delay_ms, stream](const RecordedRequest& req, Responder& r) {
    const int d = delay_ms->load();
    if (d > 0 && !r.Delay(milliseconds(d))) {
      return;
    }
    stream(req, r);
  };
}

struct ScriptedUpstream {
  FakeUpstream fake;
  std::shared_ptr<std::atomic<int>> delay_ms = std::make_shared<std::atomic<int>>(0);
  ScriptedUpstream() { fake.SetHandler(DelayedStream(delay_ms)); }
};

RelayConfig LatencyConfig(const ScriptedUpstream& a, const ScriptedUpstream& b,
                          double explore_share) {
  RelayConfig config;
  config.strategy = "latency-based";
  config.routing_yaml = "  session_affinity: false\n  latency_based:\n    explore_share: " +
                        std::to_string(explore_share) + "\n";
  config.providers = {ProviderFor("a", a.fake), ProviderFor("b", b.fake)};
  return config;
}

class LatencyRoutingTest : public RelayTest {
 protected:
  // Sends `n` streamed requests one after another; returns how many reached `a` and `b`.
  std::pair<size_t, size_t> Send(int n, const ScriptedUpstream& a, const ScriptedUpstream& b,
                                 uint16_t port = 0) {
    const size_t a0 = a.fake.request_count();
    const size_t b0 = b.fake.request_count();
    for (int i = 0; i < n; ++i) {
      const HttpResponse r =
          port == 0 ? Post("/v1/messages", MessageBody("claude-test-1", /*stream=*/true))
                    : Fetch(port, "POST", "/v1/messages", ClientHeaders(),
                            MessageBody("claude-test-1", /*stream=*/true), milliseconds(10000));
      EXPECT_EQ(r.status, 200) << r.error << r.body;
      EXPECT_NE(r.body.find("message_stop"), std::string::npos) << r.body;
    }
    return {a.fake.request_count() - a0, b.fake.request_count() - b0};
  }
};

TEST_F(LatencyRoutingTest, ASlowProviderLosesTrafficKeepsTheExploreShareAndComesBack) {
  ScriptedUpstream a;
  ScriptedUpstream b;
  ASSERT_NO_FATAL_FAILURE(StartRelay(LatencyConfig(a, b, 0.25)));

  // Both fast: each is tried first until it has a few samples, then they tie and take turns.
  auto [wa, wb] = Send(12, a, b);
  EXPECT_GE(wa, 3u);
  EXPECT_GE(wb, 3u);

  // `a` slow: its first slow answer takes it out of first place (bounded: it gets at most a
  // turn or an exploration in the next few requests).
  a.delay_ms->store(kSlowMs);
  Send(8, a, b);
  // From then on it gets the exploration share only: every fourth request.
  auto [sa, sb] = Send(20, a, b);
  EXPECT_EQ(sa + sb, 20u);
  EXPECT_GE(sa, 4u) << "exploration keeps a share";
  EXPECT_LE(sa, 6u) << "a slow provider kept more than the exploration share";

  // Fast again: exploration brings fresh samples, its estimate falls back within the tie margin
  // and it takes its turns again (well over the exploration share).
  a.delay_ms->store(0);
  Send(40, a, b);
  auto [fa, fb] = Send(20, a, b);
  EXPECT_EQ(fa + fb, 20u);
  EXPECT_GE(fa, 8u) << "a provider fast again did not get its traffic back";

  // The estimates are exposed per provider.
  const HttpResponse m = Get("/metrics");
  ASSERT_EQ(m.status, 200);
  const auto samples = ParseSamples(m.body);
  EXPECT_TRUE(SampleOf(samples, "ccrelay_provider_ttft_estimate_seconds{provider=\"a\"}"))
      << m.body;
  EXPECT_TRUE(SampleOf(samples, "ccrelay_provider_ttft_estimate_seconds{provider=\"b\"}"));
}

TEST_F(LatencyRoutingTest, WithoutExplorationASlowProviderGetsNothingOnceKnown) {
  ScriptedUpstream a;
  ScriptedUpstream b;
  a.delay_ms->store(kSlowMs);
  ASSERT_NO_FATAL_FAILURE(StartRelay(LatencyConfig(a, b, 0)));
  // Each is tried first until it has a few samples (three each, in turn)...
  auto [wa, wb] = Send(8, a, b);
  EXPECT_GE(wa, 3u);
  EXPECT_GE(wb, 3u);
  // ... then the slow one gets nothing.
  auto [sa, sb] = Send(10, a, b);
  EXPECT_EQ(sa, 0u);
  EXPECT_EQ(sb, 10u);
}

// A control plane and two data planes (real binaries on loopback).
class SharedEstimatesTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& dp : dps_) {
      if (dp->running()) {
        EXPECT_EQ(dp->Stop(milliseconds(10000)), std::optional<int>(0));
      }
    }
    if (cp_.running()) {
      EXPECT_EQ(cp_.Stop(milliseconds(10000)), std::optional<int>(0));
    }
    if (HasFailure()) {
      std::fprintf(stderr, "---- control plane ----\n%s\n", cp_.log().c_str());
      for (auto& dp : dps_) {
        std::fprintf(stderr, "---- data plane ----\n%s\n", dp->log().c_str());
      }
    }
  }

  void StartControlPlane(const std::string& yaml) {
    const std::string path = dir_.path() + "/config.yaml";
    {
      std::FILE* f = std::fopen(path.c_str(), "w");
      ASSERT_NE(f, nullptr);
      std::fputs(yaml.c_str(), f);
      std::fclose(f);
    }
    ASSERT_TRUE(cp_.Start({CCR_RELAY_BINARY, "control-plane", "--config", path, "--listen",
                           "127.0.0.1:0", "--log-level", "debug"}))
        << cp_.error();
    const auto port = cp_.WaitForValue("control_plane_listening address=127.0.0.1:", kStart);
    ASSERT_TRUE(port.has_value()) << cp_.log();
    cp_addr_ = "127.0.0.1:" + *port;
  }

  // Starts a data plane; returns its client port (0 on failure).
  uint16_t StartDataPlane(const std::string& id) {
    dps_.push_back(std::make_unique<ChildProcess>());
    ChildProcess& dp = *dps_.back();
    EXPECT_TRUE(dp.Start({CCR_RELAY_BINARY, "data-plane", "--control-plane", cp_addr_, "--listen",
                          "127.0.0.1:0", "--id", id, "--log-level", "debug"}))
        << dp.error();
    const auto port = dp.WaitForValue(" listening address=127.0.0.1:", kStart);
    EXPECT_TRUE(port.has_value()) << dp.log();
    EXPECT_TRUE(dp.WaitForLog("snapshot_applied version=", kStart)) << dp.log();
    return port.has_value() ? static_cast<uint16_t>(std::stoi(*port)) : 0;
  }

  static constexpr milliseconds kStart{10000};
  TempDir dir_;
  ChildProcess cp_;
  std::string cp_addr_;
  std::vector<std::unique_ptr<ChildProcess>> dps_;
};

TEST_F(SharedEstimatesTest, ADataPlaneWithoutTrafficRanksLikeTheOneThatHadIt) {
  ScriptedUpstream a;
  ScriptedUpstream b;
  a.delay_ms->store(kSlowMs);
  ASSERT_NO_FATAL_FAILURE(StartControlPlane(LatencyConfig(a, b, 0).ToYaml()));
  const uint16_t dp1 = StartDataPlane("dp1");
  const uint16_t dp2 = StartDataPlane("dp2");
  ASSERT_FALSE(HasFailure());
  ChildProcess& second = *dps_[1];

  // Traffic through dp1 only: it tries both (three each), then sends everything to `b`.
  auto send = [&](uint16_t port, int n) {
    const size_t a0 = a.fake.request_count();
    const size_t b0 = b.fake.request_count();
    for (int i = 0; i < n; ++i) {
      const HttpResponse r = Fetch(port, "POST", "/v1/messages", ClientHeaders(),
                                   MessageBody("claude-test-1", true), milliseconds(10000));
      EXPECT_EQ(r.status, 200) << r.error << r.body;
    }
    return std::make_pair(a.fake.request_count() - a0, b.fake.request_count() - b0);
  };
  auto [a1, b1] = send(dp1, 10);
  EXPECT_GE(a1, 3u);
  EXPECT_LE(a1, 4u);
  EXPECT_EQ(a1 + b1, 10u);

  // dp1 reports its samples every second; the control plane pushes its estimates to each data
  // plane every few seconds. The second push dp2 applies from now on was sent after dp1's report
  // of the last request.
  const size_t applied = second.LogLinesWith({"routing_estimates_applied"}).size();
  ASSERT_TRUE(second.WaitForLogLines({"routing_estimates_applied"}, applied + 2,
                                     milliseconds(20000)))
      << "dp2 got no routing estimates";

  // dp2 has no samples of its own: without the shared estimates it would try `a` first (no
  // data); with them it ranks as dp1 does.
  auto [a2, b2] = send(dp2, 10);
  EXPECT_EQ(a2, 0u) << "dp2 did not rank from the shared estimates";
  EXPECT_EQ(b2, 10u);

  const HttpResponse m = Fetch(dp2, "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  const auto samples = ParseSamples(m.body);
  const auto slow = SampleOf(samples, "ccrelay_provider_ttft_estimate_seconds{provider=\"a\"}");
  ASSERT_TRUE(slow.has_value()) << m.body;
  EXPECT_GE(*slow, kSlowMs / 1000.0 * 0.9) << "dp2 shows the shared estimate of a";
}

}  // namespace
}  // namespace ccrelay::testing
