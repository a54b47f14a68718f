// Streaming through the relay: SSE events forwarded in order, byte-identical and unbuffered;
// mid-stream upstream death; client disconnect; many concurrent streams.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"

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

class StreamingTest : public RelayTest {};

TEST_F(StreamingTest, EventsArriveInOrderByteIdenticalAndUnbuffered) {
  FakeUpstream fake;
  const std::vector<std::string> events = AnthropicSseEvents(SseOptions{.text_deltas = 4});
  // The fake sends event 1, then waits until the client has seen it: a relay that buffered the
  // stream (or waited for more bytes) would leave the gate shut until its timeout.
  auto gate = std::make_shared<Notification>();
  auto released = std::make_shared<std::atomic<bool>>(false);
  fake.SetHandler(StreamScript({.events = events,
                                .gate = gate,
                                .gate_after = 1,
                                .gate_timeout = milliseconds(4000),
                                .gate_released = released}));
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));

  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/v1/messages?beta=true", ClientHeaders(),
                                      MessageBody("claude-test-1", true))));
  SseSplitter splitter;
  std::vector<std::string> received;
  bool first_event_before_release = false;
  HttpResponse resp = conn->ReadResponse(milliseconds(10000), [&](std::string_view piece) {
    for (auto& e : splitter.Feed(piece)) {
      received.push_back(std::move(e));
    }
    if (!received.empty() && !gate->HasBeenNotified()) {
      first_event_before_release = received.size() == 1;
      gate->Notify();
    }
    return true;
  });
  ASSERT_TRUE(resp.complete) << resp.error;
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.Header("content-type"), "text/event-stream");
  EXPECT_EQ(resp.Header("request-id"), "req_fake_stream");
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "a");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "1");
  EXPECT_TRUE(first_event_before_release) << "the first event was not forwarded on its own";
  ASSERT_TRUE(fake.WaitForOutcome(0, milliseconds(5000)));
  EXPECT_TRUE(released->load()) << "the upstream had to time out: the relay buffered event 1";
  EXPECT_EQ(received, events);
  EXPECT_EQ(resp.body, Join(events)) << "stream bytes changed on the way";
  EXPECT_TRUE(splitter.partial().empty());
}

// Lock step: the fake sends event N+1 only after the client has received event N. A relay that
// held any event back (waiting for more bytes, a fuller buffer or the end of the stream) would
// stall the fake at that event until its gate times out.
// The upstream read buffers start small (a held stream keeps little memory) and grow once a
// read fills them: a burst far larger than either, and a large non-streaming answer, arrive
// byte for byte.
TEST_F(StreamingTest, LargeBurstsAndLargeAnswersArriveIntact) {
  FakeUpstream fake;
  SseOptions big{.text_deltas = 600};
  const std::vector<std::string> events = AnthropicSseEvents(big);
  fake.EnqueueHandler([&events](const RecordedRequest&, Responder& r) {
    r.SendHead(200, {{"content-type", "text/event-stream"}}, std::nullopt);
    r.SendBody(Join(events));  // every event in one chunk (~100 KB)
    r.Finish();
  });
  std::string text(3 << 20, 'x');
  for (size_t i = 0; i < text.size(); ++i) {
    text[i] = static_cast<char>('a' + (i * 2654435761u >> 7) % 26);
  }
  const std::string json = AnthropicMessageJson("claude-test-1", text);
  fake.EnqueueHandler(JsonScript(200, json));
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));

  HttpResponse stream = Post("/v1/messages", MessageBody("claude-test-1", true));
  ASSERT_EQ(stream.status, 200) << stream.error;
  EXPECT_GT(Join(events).size(), 64u << 10);
  EXPECT_EQ(Sha256Hex(stream.body), Sha256Hex(Join(events)));
  HttpResponse whole = Post("/v1/messages", MessageBody());
  ASSERT_EQ(whole.status, 200) << whole.error;
  EXPECT_EQ(whole.body.size(), json.size());
  EXPECT_EQ(Sha256Hex(whole.body), Sha256Hex(json));
}

TEST_F(StreamingTest, EveryEventReachesTheClientBeforeTheNextIsSent) {
  FakeUpstream fake;
  const std::vector<std::string> events = AnthropicSseEvents(SseOptions{.text_deltas = 6});
  std::vector<std::shared_ptr<Notification>> seen;
  for (size_t i = 0; i < events.size(); ++i) {
    seen.push_back(std::make_shared<Notification>());
  }
  auto timed_out_at = std::make_shared<std::atomic<int>>(-1);
  fake.SetHandler([events, seen, timed_out_at](const RecordedRequest&, Responder& r) {
    r.SendHead(200, {{"content-type", "text/event-stream"}}, std::nullopt);
    for (size_t i = 0; i < events.size(); ++i) {
      r.SendBody(events[i]);
      if (!r.WaitFor(*seen[i], milliseconds(3000))) {
        timed_out_at->store(static_cast<int>(i));
        break;
      }
    }
    r.Finish();
  });
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/v1/messages?beta=true", ClientHeaders(),
                                      MessageBody("claude-test-1", true))));
  SseSplitter splitter;
  std::vector<std::string> received;
  HttpResponse resp = conn->ReadResponse(milliseconds(20000), [&](std::string_view piece) {
    for (auto& e : splitter.Feed(piece)) {
      received.push_back(std::move(e));
      seen[received.size() - 1]->Notify();
    }
    return true;
  });
  ASSERT_TRUE(resp.complete) << resp.error;
  EXPECT_EQ(timed_out_at->load(), -1)
      << "event " << timed_out_at->load() << " was held back by the relay";
  EXPECT_EQ(received, events);
}

TEST_F(StreamingTest, EventSplitAcrossUpstreamChunksIsForwardedWhole) {
  FakeUpstream fake;
  const std::vector<std::string> events = AnthropicSseEvents(SseOptions{.thinking = false});
  // Re-cut the byte stream at odd places: halves of events, two events in one chunk.
  const std::string all = Join(events);
  std::vector<std::string> pieces;
  for (size_t pos = 0; pos < all.size(); pos += 37) {
    pieces.push_back(all.substr(pos, 37));
  }
  fake.SetHandler(StreamScript({.events = pieces}));
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  HttpResponse resp = Post("/v1/messages", MessageBody("claude-test-1", true));
  ASSERT_TRUE(resp.complete) << resp.error;
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, all);
}

// The upstream sends three events, waits until the client has them, then dies (RST or FIN
// without the terminating chunk).
void ExpectErrorEventAfterDeath(RelayTest& test, bool die_with_fin) {
  FakeUpstream fake;
  FakeUpstream fallback;
  const std::vector<std::string> events = AnthropicSseEvents(SseOptions{});
  auto gate = std::make_shared<Notification>();
  fake.SetHandler(StreamScript({.events = events,
                                .gate = gate,
                                .gate_after = 3,
                                .die_after = 3,
                                .die_with_fin = die_with_fin}));
  RelayConfig config;
  config.providers = {ProviderFor("a", fake, {"sk-prov-a1"}),
                      ProviderFor("b", fallback, {"sk-prov-b1"})};
  ASSERT_NO_FATAL_FAILURE(test.StartRelay(config));

  auto conn = HttpConnection::Connect(test.relay().port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(
      BuildRequest("POST", "/v1/messages", ClientHeaders(), MessageBody("claude-test-1", true))));
  SseSplitter splitter;
  std::vector<std::string> got;
  HttpResponse resp = conn->ReadResponse(milliseconds(10000), [&](std::string_view piece) {
    for (auto& e : splitter.Feed(piece)) {
      got.push_back(std::move(e));
    }
    if (got.size() >= 3) {
      gate->Notify();
    }
    return true;
  });
  EXPECT_TRUE(resp.complete) << "the client stream did not end well-formed: " << resp.error;
  EXPECT_EQ(resp.status, 200);
  ASSERT_EQ(got.size(), 4u) << resp.body;
  EXPECT_EQ(got[0] + got[1] + got[2], events[0] + events[1] + events[2]);
  EXPECT_EQ(SseEventName(got[3]), "error") << got[3];
  const auto data = ParseJson(SseEventData(got[3]));
  ASSERT_TRUE(data.is_object()) << got[3];
  EXPECT_EQ(data.value("type", ""), "error");
  ASSERT_TRUE(data.contains("error")) << got[3];
  EXPECT_EQ(data["error"].value("type", ""), "api_error") << got[3];
  // Nothing is retried once the first byte has gone out.
  EXPECT_EQ(fake.request_count(), 1u);
  EXPECT_EQ(fallback.request_count(), 0u);
}

TEST_F(StreamingTest, UpstreamResetMidStreamEndsWithErrorEventAndNoRetry) {
  ExpectErrorEventAfterDeath(*this, /*die_with_fin=*/false);
}

TEST_F(StreamingTest, UpstreamEofMidStreamEndsWithErrorEventAndNoRetry) {
  ExpectErrorEventAfterDeath(*this, /*die_with_fin=*/true);
}

TEST_F(StreamingTest, UpstreamSilentMidStreamPastIdleTimeoutEndsWithErrorEvent) {
  FakeUpstream fake;
  auto never = std::make_shared<Notification>();
  fake.SetHandler(StreamScript({.gate = never,
                                .gate_after = 2,
                                .gate_timeout = milliseconds(8000),
                                .hold_open_until_peer_close = true,
                                .hold_timeout = milliseconds(8000)}));
  RelayConfig config = OneProvider(fake);
  config.timeouts.idle_ms = 400;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Fetch(port(), "POST", "/v1/messages", ClientHeaders(),
                            MessageBody("claude-test-1", true), milliseconds(6000));
  EXPECT_EQ(resp.status, 200);
  EXPECT_TRUE(resp.complete) << "stream not ended after the idle timeout: " << resp.error;
  SseSplitter splitter;
  const std::vector<std::string> got = splitter.Feed(resp.body);
  ASSERT_EQ(got.size(), 3u) << resp.body;
  EXPECT_EQ(SseEventName(got[2]), "error") << got[2];
  EXPECT_EQ(ParseJson(SseEventData(got[2])).value("type", ""), "error") << got[2];
  ASSERT_TRUE(fake.WaitForOutcome(0, milliseconds(10000)));
  EXPECT_TRUE(fake.outcomes()[0].peer_closed_early);
}

TEST_F(StreamingTest, ClientDisconnectClosesTheUpstreamConnection) {
  FakeUpstream fake;
  auto never = std::make_shared<Notification>();
  fake.SetHandler(StreamScript({.gate = never,
                                .gate_after = 2,
                                .gate_timeout = milliseconds(8000),
                                .hold_open_until_peer_close = true,
                                .hold_timeout = milliseconds(8000)}));
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(
      BuildRequest("POST", "/v1/messages", ClientHeaders(), MessageBody("claude-test-1", true))));
  SseSplitter splitter;
  HttpResponse resp = conn->ReadResponse(milliseconds(5000), [&](std::string_view piece) {
    return splitter.Feed(piece).empty();  // stop at the first complete event
  });
  ASSERT_EQ(resp.status, 200) << resp.error;
  conn->Close();
  ASSERT_TRUE(fake.WaitForOutcome(0, milliseconds(10000)));
  EXPECT_TRUE(fake.outcomes()[0].peer_closed_early)
      << "the relay kept the upstream stream open after the client left";
  // And the relay is still serving.
  EXPECT_EQ(Get("/health").status, 200);
}

TEST_F(StreamingTest, FiftyConcurrentStreamsAllComplete) {
  FakeUpstream fake;
  const std::vector<std::string> events = AnthropicSseEvents(SseOptions{.text_deltas = 8});
  // Every upstream stream pauses after its first event until all 50 have reached the fake: a
  // relay that serialised streams would never get there.
  auto all_started = std::make_shared<Notification>();
  fake.SetHandler(StreamScript({.events = events,
                                .delay = milliseconds(2),
                                .gate = all_started,
                                .gate_after = 1,
                                .gate_timeout = milliseconds(15000)}));
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  constexpr int kStreams = 50;
  std::atomic<int> ok{0};
  std::vector<std::string> failures(kStreams);
  std::vector<std::thread> clients;
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([&, i] {
      HttpResponse r = Fetch(port(), "POST", "/v1/messages", ClientHeaders(),
                             MessageBody("claude-test-1", true), milliseconds(30000));
      if (r.complete && r.status == 200 && r.body == Join(events)) {
        ++ok;
      } else {
        failures[static_cast<size_t>(i)] = "status " + std::to_string(r.status) + " " + r.error +
                                           " body " + std::to_string(r.body.size()) + " bytes";
      }
    });
  }
  const bool all_reached = fake.WaitForRequests(kStreams, milliseconds(20000));
  all_started->Notify();
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_TRUE(all_reached) << "only " << fake.request_count() << " streams reached the upstream";
  EXPECT_EQ(ok.load(), kStreams);
  for (const auto& f : failures) {
    if (!f.empty()) {
      ADD_FAILURE() << f;
      break;
    }
  }
}

TEST_F(StreamingTest, FailoverBeforeFirstByteThenStream) {
  FakeUpstream first;
  FakeUpstream second;
  first.SetHandler(OverloadedScript());
  const std::vector<std::string> events = AnthropicSseEvents(SseOptions{});
  second.SetHandler(StreamScript({.events = events}));
  RelayConfig config;
  config.providers = {ProviderFor("a", first, {"sk-prov-a1"}),
                      ProviderFor("b", second, {"sk-prov-b1"})};
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  HttpResponse resp = Post("/v1/messages", MessageBody("claude-test-1", true));
  ASSERT_TRUE(resp.complete) << resp.error;
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, Join(events));
  EXPECT_EQ(resp.Header("x-cc-relay-provider"), "b");
  EXPECT_EQ(resp.Header("x-cc-relay-attempts"), "2");
}

}  // namespace
}  // namespace ccrelay::testing
