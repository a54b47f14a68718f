// Self-tests of the test infrastructure (FakeUpstream, HttpConnection, TestPki), without the
// relay: a failure here is a bug in tests/fakes, not in cc-relay.
#include "tests/fakes/fake_upstream.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_config.h"
#include "tests/fakes/test_ca.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    out += p;
  }
  return out;
}

TEST(FakeUpstreamTest, RecordsRequestAndAnswersWithDefaultMessage) {
  FakeUpstream fake;
  HttpResponse resp =
      Fetch(fake.port(), "POST", "/v1/messages?beta=true",
            {{"X-Api-Key", "k1"}, {"anthropic-version", "2023-06-01"}}, R"({"model":"m"})");
  ASSERT_TRUE(resp.error.empty()) << resp.error;
  EXPECT_EQ(resp.status, 200);
  EXPECT_TRUE(resp.complete);
  EXPECT_NE(resp.body.find("\"type\":\"message\""), std::string::npos);
  EXPECT_EQ(resp.Header("request-id"), "req_fake_ok");
  ASSERT_EQ(fake.request_count(), 1u);
  const RecordedRequest req = fake.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/v1/messages?beta=true");
  EXPECT_EQ(req.body, R"({"model":"m"})");
  ASSERT_GE(req.headers.size(), 3u);
  EXPECT_EQ(req.headers[0].first, "host");
  EXPECT_EQ(req.headers[1].first, "X-Api-Key");
  EXPECT_EQ(req.Header("x-api-key"), "k1");
  EXPECT_EQ(req.Header("anthropic-version"), "2023-06-01");
}

TEST(FakeUpstreamTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  FakeUpstream fake;
  fake.EnqueueHandler(JsonScript(201, "{\"n\":1}"));
  fake.EnqueueHandler(OverloadedScript());
  auto conn = HttpConnection::Connect(fake.port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/a", {}, "x")));
  HttpResponse r1 = conn->ReadResponse(milliseconds(5000));
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/b", {}, "y")));
  HttpResponse r2 = conn->ReadResponse(milliseconds(5000));
  ASSERT_TRUE(conn->Send(BuildRequest("GET", "/c", {}, "")));
  HttpResponse r3 = conn->ReadResponse(milliseconds(5000));
  EXPECT_EQ(r1.status, 201);
  EXPECT_EQ(r1.body, "{\"n\":1}");
  EXPECT_EQ(r2.status, 529);
  EXPECT_NE(r2.body.find("overloaded_error"), std::string::npos);
  EXPECT_EQ(r3.status, 200);  // queue empty: default handler
  EXPECT_EQ(fake.connections_accepted(), 1);
  const auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].connection_id, reqs[2].connection_id);
}

TEST(FakeUpstreamTest, StreamIsChunkedOneEventPerChunk) {
  FakeUpstream fake;
  const auto events = AnthropicSseEvents(SseOptions{});
  fake.SetHandler(StreamScript({.events = events}));
  auto conn = HttpConnection::Connect(fake.port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/v1/messages", {}, "{}")));
  std::vector<std::string> pieces;
  HttpResponse resp = conn->ReadResponse(milliseconds(5000), [&](std::string_view piece) {
    pieces.emplace_back(piece);
    return true;
  });
  ASSERT_TRUE(resp.complete) << resp.error;
  EXPECT_TRUE(resp.chunked);
  EXPECT_EQ(resp.Header("content-type"), "text/event-stream");
  EXPECT_EQ(pieces, events);
  EXPECT_EQ(resp.body, Join(events));
  // The canned stream has every event kind the relay must pass through.
  std::vector<std::string> names;
  for (const auto& e : events) {
    names.push_back(SseEventName(e));
  }
  for (const char* kind : {"message_start", "content_block_start", "ping", "content_block_delta",
                           "content_block_stop", "message_delta", "message_stop"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), kind), names.end()) << kind;
  }
  EXPECT_NE(resp.body.find("signature_delta"), std::string::npos);
}

TEST(FakeUpstreamTest, GateHoldsTheStreamUntilTheTestReleasesIt) {
  FakeUpstream fake;
  auto gate = std::make_shared<Notification>();
  auto released = std::make_shared<std::atomic<bool>>(false);
  fake.SetHandler(StreamScript({.gate = gate, .gate_after = 1, .gate_released = released}));
  auto conn = HttpConnection::Connect(fake.port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/v1/messages", {}, "{}")));
  SseSplitter splitter;
  size_t seen = 0;
  bool first_before_release = false;
  HttpResponse resp = conn->ReadResponse(milliseconds(8000), [&](std::string_view piece) {
    seen += splitter.Feed(piece).size();
    if (seen == 1 && !gate->HasBeenNotified()) {
      first_before_release = true;
      gate->Notify();
    }
    return true;
  });
  ASSERT_TRUE(resp.complete) << resp.error;
  EXPECT_TRUE(first_before_release);
  ASSERT_TRUE(fake.WaitForOutcome(0, milliseconds(5000)));
  EXPECT_TRUE(released->load());
}

TEST(FakeUpstreamTest, DetectsPeerCloseWhileScriptWaits) {
  FakeUpstream fake;
  auto gate = std::make_shared<Notification>();  // never released
  fake.SetHandler(
      StreamScript({.gate = gate, .gate_after = 1, .gate_timeout = milliseconds(10000)}));
  auto conn = HttpConnection::Connect(fake.port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/v1/messages", {}, "{}")));
  SseSplitter splitter;
  HttpResponse resp = conn->ReadResponse(milliseconds(5000), [&](std::string_view piece) {
    return splitter.Feed(piece).empty();  // stop after the first event
  });
  EXPECT_FALSE(resp.complete);
  conn->Close();
  ASSERT_TRUE(fake.WaitForOutcome(0, milliseconds(5000)));
  EXPECT_TRUE(fake.outcomes()[0].peer_closed_early);
  EXPECT_FALSE(fake.outcomes()[0].response_complete);
}

TEST(FakeUpstreamTest, CompleteStreamIsNotReportedAsPeerClose) {
  FakeUpstream fake;
  fake.SetHandler(StreamScript({}));
  HttpResponse resp = Fetch(fake.port(), "POST", "/v1/messages", {}, "{}");
  ASSERT_TRUE(resp.complete) << resp.error;
  ASSERT_TRUE(fake.WaitForOutcome(0, milliseconds(5000)));
  EXPECT_FALSE(fake.outcomes()[0].peer_closed_early);
  EXPECT_TRUE(fake.outcomes()[0].response_complete);
}

TEST(FakeUpstreamTest, MidStreamDeathResetsTheConnection) {
  FakeUpstream fake;
  fake.SetHandler(StreamScript({.die_after = 2}));
  auto conn = HttpConnection::Connect(fake.port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/v1/messages", {}, "{}")));
  HttpResponse resp = conn->ReadResponse(milliseconds(5000));
  EXPECT_FALSE(resp.complete);
  EXPECT_FALSE(resp.error.empty());
  EXPECT_EQ(resp.status, 200);
}

TEST(FakeUpstreamTest, RefusedPortsAndStopListening) {
  std::string error;
  EXPECT_EQ(HttpConnection::Connect(UnusedPort(), &error), nullptr);
  FakeUpstream fake;
  auto before = HttpConnection::Connect(fake.port());
  EXPECT_NE(before, nullptr);
  fake.StopListening();
  EXPECT_EQ(HttpConnection::Connect(fake.port(), &error), nullptr);
}

TEST(FakeUpstreamTest, DropConnectionsClosesWithoutAnswer) {
  FakeUpstream fake;
  fake.SetDropConnections(true);
  HttpResponse resp = Fetch(fake.port(), "POST", "/v1/messages", {}, "{}", milliseconds(3000));
  EXPECT_EQ(resp.status, 0);
  EXPECT_FALSE(resp.error.empty());
  EXPECT_EQ(fake.request_count(), 0u);
  EXPECT_EQ(fake.connections_accepted(), 1);
}

TEST(FakeUpstreamTest, LargeAndChunkedRequestBodiesArriveIntact) {
  FakeUpstream fake;
  std::string big(5 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>('a' + (i * 7919) % 26);
  }
  HttpResponse r1 = Fetch(fake.port(), "POST", "/big", {}, big);
  EXPECT_EQ(r1.status, 200) << r1.error;
  HttpResponse r2 = Fetch(fake.port(), "POST", "/chunked", {{"transfer-encoding", "chunked"}},
                          "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(r2.status, 200) << r2.error;
  const auto reqs = fake.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[0].body == big);
  EXPECT_EQ(reqs[1].body, "hello world");
}

TEST(FakeUpstreamTest, FiftyConcurrentStreamsAreServedInParallel) {
  FakeUpstream fake;
  SseOptions opts;
  opts.text_deltas = 5;
  // Every stream waits on a gate that opens only once all 50 have started: a fake that served
  // connections one at a time would time out here.
  auto all_started = std::make_shared<Notification>();
  fake.SetHandler(StreamScript({.events = AnthropicSseEvents(opts),
                                .delay = milliseconds(5),
                                .gate = all_started,
                                .gate_after = 1}));
  constexpr int kStreams = 50;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&] {
      HttpResponse r = Fetch(fake.port(), "POST", "/v1/messages", {}, "{}", milliseconds(10000));
      if (r.complete && r.status == 200 && r.body == Join(AnthropicSseEvents(opts))) {
        ++ok;
      }
    });
  }
  EXPECT_TRUE(fake.WaitForRequests(kStreams, milliseconds(10000)));
  all_started->Notify();
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(ok.load(), kStreams);
}

TEST(FakeUpstreamTest, SseHelpersParseEvents) {
  SseSplitter splitter;
  auto a = splitter.Feed("event: ping\ndata: {\"type\":");
  EXPECT_TRUE(a.empty());
  auto b = splitter.Feed("\"ping\"}\n\nevent: x\ndata: 1\ndata: 2\n\n");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(SseEventName(b[0]), "ping");
  EXPECT_EQ(SseEventData(b[0]), "{\"type\":\"ping\"}");
  EXPECT_EQ(SseEventData(b[1]), "1\n2");
}

TEST(TestPkiTest, WritesCaAndServerCertificates) {
  std::string error;
  auto pki = TestPki::Create(&error);
  ASSERT_NE(pki, nullptr) << error;
  // The TLS fake loads them (a bad key/cert pair would throw here).
  FakeUpstream::Options options;
  options.tls = true;
  options.cert_file = pki->localhost().cert_file;
  options.key_file = pki->localhost().key_file;
  FakeUpstream fake(options);
  EXPECT_EQ(fake.base_url(), "https://localhost:" + std::to_string(fake.port()));
  // A plain-text request to a TLS port fails the handshake instead of being served.
  HttpResponse resp = Fetch(fake.port(), "GET", "/", {}, "", milliseconds(3000));
  EXPECT_NE(resp.status, 200);
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST(RelayConfigTest, WritesFailoverChainInProviderOrder) {
  RelayConfig config;
  config.providers.push_back({.name = "a", .base_url = "http://127.0.0.1:1"});
  config.providers.push_back(
      {.name = "b", .type = "zai", .base_url = "http://127.0.0.1:2", .keys = {{.key = "k"}}});
  const std::string yaml = config.ToYaml();
  EXPECT_NE(yaml.find("primary: \"a\"\n    fallbacks:\n      - \"b\"\n"), std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("type: zai"), std::string::npos);
  EXPECT_NE(yaml.find("- key: \"k\""), std::string::npos);
}

}  // namespace
}  // namespace ccrelay::testing
