// Process-level behaviour: the per-request log line (and no secret in the log), graceful
// shutdown on SIGTERM with an in-flight stream.
#include <atomic>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "dataplane/common/secret.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

class LifecycleTest : public RelayTest {};

TEST_F(LifecycleTest, OneLogLinePerRequestWithoutSecrets) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake, {"sk-prov-SECRET-a1"});
  config.auth.api_key = "proxy-SECRET-key";
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody(), ClientHeaders("proxy-SECRET-key"));
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
  const std::string request_id = resp.Header("x-cc-relay-request-id").value_or("?");
  const std::vector<std::string> needles = {"request_id=" + request_id,
                                            "provider=a",
                                            "key=" + common::FingerprintOf("sk-prov-SECRET-a1"),
                                            "model=",
                                            "status=200",
                                            "attempts=1"};
  ASSERT_TRUE(relay().WaitForLogLines(needles, 1, milliseconds(5000)))
      << "no request log line with all of request_id/provider/key/model/status/attempts";
  const std::vector<std::string> lines = relay().LogLinesWith(needles);
  ASSERT_EQ(lines.size(), 1u);
  // The model value, quoted or not.
  EXPECT_TRUE(lines[0].find("model=claude-test-1") != std::string::npos ||
              lines[0].find("model=\"claude-test-1\"") != std::string::npos)
      << lines[0];
  EXPECT_EQ(relay().LogLinesWith({"request_id=" + request_id, "status="}).size(), 1u);

  // A rejected request is logged too, and the wrong credential is not echoed.
  HttpResponse denied = Post("/v1/messages", MessageBody(), ClientHeaders("wrong-SECRET-guess"));
  EXPECT_EQ(denied.status, 401);
  const std::string denied_id = denied.Header("x-cc-relay-request-id").value_or("?");
  EXPECT_TRUE(relay().WaitForLogLines({"request_id=" + denied_id}, 1, milliseconds(5000)));

  ASSERT_TRUE(relay().Stop().has_value());
  const std::string log = relay().log();
  EXPECT_EQ(log.find("SECRET"), std::string::npos) << "a secret appeared in the log";
}

TEST_F(LifecycleTest, SigtermDrainsAnInFlightStream) {
  FakeUpstream fake;
  const std::vector<std::string> events = AnthropicSseEvents(SseOptions{});
  auto gate = std::make_shared<Notification>();
  fake.SetHandler(StreamScript(
      {.events = events, .gate = gate, .gate_after = 1, .gate_timeout = milliseconds(8000)}));
  RelayConfig config = OneProvider(fake);
  config.timeouts.drain_ms = 8000;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));

  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(
      BuildRequest("POST", "/v1/messages", ClientHeaders(), MessageBody("claude-test-1", true))));
  SseSplitter splitter;
  size_t seen = 0;
  bool signalled = false;
  HttpResponse resp = conn->ReadResponse(milliseconds(10000), [&](std::string_view piece) {
    seen += splitter.Feed(piece).size();
    if (seen >= 1 && !signalled) {
      // Mid-stream: ask the relay to stop, wait until it has seen the signal, then let the
      // upstream finish.
      signalled = true;
      relay().Signal(SIGTERM);
      EXPECT_TRUE(relay().WaitForLog("shutdown_requested", milliseconds(5000)));
      gate->Notify();
    }
    return true;
  });
  EXPECT_TRUE(signalled);
  EXPECT_TRUE(resp.complete) << "the in-flight stream was cut by shutdown: " << resp.error;
  std::string all;
  for (const auto& e : events) {
    all += e;
  }
  EXPECT_EQ(resp.body, all);
  const std::optional<int> status = relay().WaitExit(milliseconds(10000));
  EXPECT_EQ(status, std::optional<int>(0));
  // It no longer accepts connections.
  EXPECT_EQ(HttpConnection::Connect(port()), nullptr);
}

TEST_F(LifecycleTest, SigtermStopsAcceptingWhileAStreamDrains) {
  FakeUpstream fake;
  auto gate = std::make_shared<Notification>();
  fake.SetHandler(
      StreamScript({.gate = gate, .gate_after = 1, .gate_timeout = milliseconds(8000)}));
  RelayConfig config = OneProvider(fake);
  config.timeouts.drain_ms = 8000;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(
      BuildRequest("POST", "/v1/messages", ClientHeaders(), MessageBody("claude-test-1", true))));
  std::atomic<bool> refused_during_drain{false};
  HttpResponse resp = conn->ReadResponse(milliseconds(10000), [&](std::string_view) {
    if (!gate->HasBeenNotified()) {
      relay().Signal(SIGTERM);
      EXPECT_TRUE(relay().WaitForLog("shutdown_requested", milliseconds(5000)));
      // A new request during the drain is not served (refused, closed, or 503).
      HttpResponse late =
          Fetch(port(), "POST", "/v1/messages", ClientHeaders(), MessageBody(), milliseconds(3000));
      refused_during_drain = late.status != 200;
      gate->Notify();
    }
    return true;
  });
  EXPECT_TRUE(resp.complete) << resp.error;
  EXPECT_TRUE(refused_during_drain.load());
  EXPECT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(relay().WaitExit(milliseconds(10000)), std::optional<int>(0));
}

TEST_F(LifecycleTest, DrainDeadlineEndsAStreamThatNeverFinishes) {
  FakeUpstream fake;
  auto never = std::make_shared<Notification>();
  fake.SetHandler(StreamScript({.gate = never,
                                .gate_after = 1,
                                .gate_timeout = milliseconds(20000),
                                .hold_open_until_peer_close = true,
                                .hold_timeout = milliseconds(20000)}));
  RelayConfig config = OneProvider(fake);
  config.timeouts.drain_ms = 500;
  config.timeouts.idle_ms = 20000;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(
      BuildRequest("POST", "/v1/messages", ClientHeaders(), MessageBody("claude-test-1", true))));
  SseSplitter splitter;
  HttpResponse first = conn->ReadResponse(
      milliseconds(5000), [&](std::string_view piece) { return splitter.Feed(piece).empty(); });
  ASSERT_EQ(first.status, 200) << first.error;
  relay().Signal(SIGTERM);
  // drain_ms is 500: the relay must be gone long before the upstream's 20 s.
  const std::optional<int> status = relay().WaitExit(milliseconds(6000));
  ASSERT_TRUE(status.has_value()) << "still running 6 s after SIGTERM with drain_ms=500";
  EXPECT_EQ(*status, 0);
  EXPECT_TRUE(conn->WaitForClose(milliseconds(2000)));
}

}  // namespace
}  // namespace ccrelay::testing
