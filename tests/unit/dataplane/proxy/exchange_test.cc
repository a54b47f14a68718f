// The exchange alone, in process: a scripted fake UpstreamRequest stands for the upstream and a
// recording ClientStream for the session, so each test drives exactly what the upstream answers
// and checks what the exchange sends upstream and hands the client.
#include "dataplane/proxy/exchange.h"

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/fields.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

#include "dataplane/common/str.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/server/downstream_session.h"
#include "dataplane/state/state_registry.h"
#include "dataplane/stats/stats_collector.h"

namespace ccrelay::proxy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// One upstream request as the exchange sent it.
struct SentRequest {
  std::string host;
  std::string port;
  std::string head;
  std::string body;
  bool fresh_connection = false;
};

// Records what the exchange sends; the test answers through the callbacks.
class FakeUpstreamRequest : public upstream::UpstreamRequest {
 public:
  explicit FakeUpstreamRequest(upstream::UpstreamCallbacks& cb) : callbacks(cb) {}

  void Send(const upstream::UpstreamEndpoint& endpoint, const upstream::StepTimeouts& /*t*/,
            std::span<const boost::asio::const_buffer> request, bool fresh) override {
    SentRequest r;
    r.host = std::string(endpoint.host);
    r.port = std::string(endpoint.port);
    r.fresh_connection = fresh;
    bool first = true;
    for (const auto& b : request) {
      std::string_view piece(static_cast<const char*>(b.data()), b.size());
      (first ? r.head : r.body).append(piece);
      first = false;
    }
    sent.push_back(std::move(r));
  }
  std::string_view TakeBuffered(bool* end) override {
    *end = buffered_end;
    taken = std::move(buffered);
    buffered.clear();
    return taken;
  }
  void ReadBody() override { ++reads; }
  void Cancel() override { cancelled = true; }

  // Scripting.
  void Answer(int status, std::string content_type, std::string first_bytes = "",
              bool end = false, bool content_length = false) {
    boost::beast::http::fields f;
    f.set("content-type", content_type);
    if (content_length) {
      f.set("content-length", std::to_string(first_bytes.size()));
    }
    buffered = std::move(first_bytes);
    buffered_end = end;
    callbacks.OnUpstreamHead(upstream::UpstreamResponseHead{status, "", f, content_length});
  }
  void Data(std::string bytes, bool end) {
    data_ = std::move(bytes);
    callbacks.OnUpstreamData(data_, end);
  }
  void Fail(upstream::FailureKind kind, std::string detail, bool stale = false) {
    callbacks.OnUpstreamFailure(upstream::UpstreamFailure{kind, std::move(detail), stale});
  }

  upstream::UpstreamCallbacks& callbacks;
  std::vector<SentRequest> sent;
  std::string buffered;
  bool buffered_end = false;
  std::string taken;
  std::string data_;
  int reads = 0;
  bool cancelled = false;
};

// Records what reaches the client, formatted as the session would put it on the wire.
class RecordingClient : public ClientStream {
 public:
  void SendHead(const ResponseHead& head, std::string_view body, bool end) override {
    chunked = head.framing == Framing::kChunked;
    server::DownstreamSession::FormatHead(head, false, &wire);
    status = head.status;
    Body(body, end);
  }
  void SendData(std::string_view body, bool end) override { Body(body, end); }
  void SendRaw(std::string_view bytes) override {
    wire.append(bytes);
    ++writes;
  }
  void ExchangeDone(bool keep_alive) override {
    done = true;
    kept_alive = keep_alive;
  }

  void Body(std::string_view body, bool end) {
    if (chunked && !body.empty()) {
      wire += common::Hex(body.size()) + "\r\n" + std::string(body) + "\r\n";
    } else {
      wire.append(body);
    }
    if (chunked && end) {
      wire += "0\r\n\r\n";
    }
    payload.append(body);
    ++writes;
  }

  std::string wire;
  std::string payload;  // body bytes only
  int status = 0;
  int writes = 0;
  bool chunked = false;
  bool done = false;
  bool kept_alive = false;
};

constexpr std::string_view kBody =
    R"({"model":"claude-sonnet-4-5","max_tokens":10,"stream":true,"messages":[]})";

class ExchangeTest : public ::testing::Test {
 protected:
  ExchangeTest() : worker_(ioc_) {
    worker_.upstream_factory = [this](upstream::UpstreamCallbacks& cb) {
      auto fake = std::make_shared<FakeUpstreamRequest>(cb);
      upstream_ = fake.get();
      return fake;
    };
  }

  // Providers p0, p1, ... with the given keys (none: passthrough), failover in that order.
  void Build(const std::vector<std::vector<std::string>>& keys,
             const std::vector<std::pair<std::string, std::string>>& mapping = {}) {
    v1::RoutingSnapshot s;
    s.set_version(1);
    for (size_t i = 0; i < keys.size(); ++i) {
      auto* p = s.add_providers();
      p->set_name("p" + std::to_string(i));
      p->set_type(i == 1 ? "zai" : "anthropic");
      p->set_enabled(true);
      p->set_base_url("http://127.0.0.1:" + std::to_string(9100 + i) + "/prefix");
      for (const std::string& secret : keys[i]) {
        auto* k = p->add_keys();
        k->set_secret(secret);
        k->set_enabled(true);
        k->set_weight(1);
      }
      for (const auto& [from, to] : mapping) {
        auto* m = p->add_model_mapping();
        m->set_from(from);
        m->set_to(to);
      }
    }
    s.mutable_routing()->set_strategy("failover");
    s.mutable_routing()->set_failover_primary("p0");
    for (size_t i = 1; i < keys.size(); ++i) {
      s.mutable_routing()->add_failover_fallbacks("p" + std::to_string(i));
    }
    auto table = routing::CompileRoutingTable(s, states_);
    ASSERT_TRUE(table.ok()) << table.status();
    table_ = *table;
  }

  std::shared_ptr<Exchange> Start(std::string_view body = kBody) {
    Exchange::Params p;
    p.worker = &worker_;
    p.client = &client_;
    p.table = table_;
    p.request.method(boost::beast::http::verb::post);
    p.request.target("/v1/messages?beta=true");
    p.request.set("x-api-key", "client-key");
    p.request.set("anthropic-version", "2023-06-01");
    p.request.set("connection", "keep-alive, x-hop");
    p.request.set("x-hop", "dropped");
    p.request.set("x-cc-relay-debug", "dropped");
    p.request.body().Append(body.data(), body.size());
    auto info = p.request.body().Scan();
    EXPECT_TRUE(info.ok()) << info.status();
    p.info = *info;
    p.request_id = "req_test";
    p.connection_id = "C1";
    p.auth.ok = true;
    p.start = std::chrono::steady_clock::now();
    auto ex = std::make_shared<Exchange>(std::move(p));
    ex->Start();
    return ex;
  }

  boost::asio::io_context ioc_;
  WorkerContext worker_;
  FakeUpstreamRequest* upstream_ = nullptr;
  RecordingClient client_;
  state::StateRegistry states_;
  routing::RoutingTableConstSharedPtr table_;
};

TEST_F(ExchangeTest, AdapterShapesTheRequestAndTheAnswerStreamsAtEventBoundaries) {
  Build({{"sk-ant-api03-pooled"}}, {{"claude-sonnet-4-5", "claude-opus-4-1"}});
  auto ex = Start();
  ASSERT_NE(upstream_, nullptr);
  ASSERT_EQ(upstream_->sent.size(), 1u);
  const SentRequest& r = upstream_->sent[0];
  EXPECT_EQ(r.port, "9100");
  EXPECT_THAT(r.head, HasSubstr("POST /prefix/v1/messages?beta=true HTTP/1.1\r\n"));
  EXPECT_THAT(r.head, HasSubstr("Host: 127.0.0.1:9100\r\n"));
  EXPECT_THAT(r.head, HasSubstr("x-api-key: sk-ant-api03-pooled\r\n"));
  EXPECT_THAT(r.head, Not(HasSubstr("client-key")));
  EXPECT_THAT(r.head, Not(HasSubstr("x-hop")));
  EXPECT_THAT(r.head, Not(HasSubstr("x-cc-relay-debug")));
  EXPECT_THAT(r.head, HasSubstr("anthropic-version: 2023-06-01\r\n"));
  // Only the model string is spliced; Content-Length is the spliced body's.
  std::string expected(kBody);
  expected.replace(expected.find("claude-sonnet-4-5"), 17, "claude-opus-4-1");
  EXPECT_EQ(r.body, expected);
  EXPECT_THAT(r.head, HasSubstr("Content-Length: " + std::to_string(expected.size())));

  // The head goes out with the complete event; the partial one is held.
  upstream_->Answer(200, "text/event-stream",
                    "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\nda");
  EXPECT_EQ(client_.status, 200);
  EXPECT_THAT(client_.wire, HasSubstr("transfer-encoding: chunked\r\n"));
  EXPECT_THAT(client_.wire, HasSubstr("x-cc-relay-provider: p0\r\n"));
  EXPECT_THAT(client_.wire, HasSubstr("x-cc-relay-attempts: 1\r\n"));
  EXPECT_EQ(client_.payload, "event: message_start\ndata: {\"type\":\"message_start\"}\n\n");
  ex->OnClientWritten();
  EXPECT_EQ(upstream_->reads, 1);
  upstream_->Data("ta: {}\n\n", false);
  EXPECT_THAT(client_.payload, HasSubstr("event: ping\ndata: {}\n\n"));
  ex->OnClientWritten();
  upstream_->Data("", true);
  ex->OnClientWritten();
  EXPECT_TRUE(client_.done);
  EXPECT_TRUE(client_.kept_alive);
  EXPECT_THAT(client_.wire, HasSubstr("0\r\n\r\n"));
}

TEST_F(ExchangeTest, ContentLengthAnswerPassesThroughWithoutCopy) {
  Build({{"k1"}});
  auto ex = Start();
  const std::string json = R"({"type":"message","usage":{"input_tokens":3,"output_tokens":2}})";
  upstream_->Answer(200, "application/json", json, /*end=*/true, /*content_length=*/true);
  EXPECT_THAT(client_.wire, HasSubstr("content-length: " + std::to_string(json.size())));
  EXPECT_THAT(client_.wire, Not(HasSubstr("transfer-encoding")));
  EXPECT_EQ(client_.payload, json);
  ex->OnClientWritten();
  EXPECT_TRUE(client_.done);
}

TEST_F(ExchangeTest, UsageOfAJsonAnswerReadInPiecesIsCounted) {
  Build({{"k1"}});
  stats::StatsCollector stats;
  worker_.observer = &stats;
  auto ex = Start();
  const std::string json =
      R"({"id":"msg_1","type":"message","content":[{"type":"text","text":")" +
      std::string(3000, 'x') + R"("}],"usage":{"input_tokens":3,"output_tokens":2}})";
  // No Content-Length: the body comes in three reads (the worker's string pool is empty).
  upstream_->Answer(200, "application/json", json.substr(0, 1000), false, false);
  ex->OnClientWritten();
  upstream_->Data(json.substr(1000, 1500), false);
  ex->OnClientWritten();
  upstream_->Data(json.substr(2500), true);
  ex->OnClientWritten();
  ASSERT_TRUE(client_.done);
  EXPECT_EQ(client_.payload, json);
  const stats::StatsDelta d = stats.Take();
  ASSERT_EQ(d.recent.size(), 1u);
  EXPECT_EQ(d.recent[0].usage.input_tokens, 3);
  EXPECT_EQ(d.recent[0].usage.output_tokens, 2);
  worker_.observer = nullptr;
}

TEST_F(ExchangeTest, RetryableAnswerGoesToTheNextProviderAndIsNotShown) {
  Build({{"k1"}, {"k2"}});
  auto ex = Start();
  upstream_->Answer(503, "application/json", R"({"type":"error"})", /*end=*/true, true);
  ASSERT_EQ(upstream_->sent.size(), 2u);
  EXPECT_EQ(upstream_->sent[1].port, "9101");
  // Z.AI's adapter authenticates with a bearer token.
  EXPECT_THAT(upstream_->sent[1].head, HasSubstr("Authorization: Bearer k2\r\n"));
  EXPECT_EQ(client_.writes, 0);
  upstream_->Answer(200, "application/json", "{}", true, true);
  EXPECT_EQ(client_.status, 200);
  EXPECT_THAT(client_.wire, HasSubstr("x-cc-relay-attempts: 2\r\n"));
  EXPECT_THAT(client_.wire, HasSubstr("x-cc-relay-provider: p1\r\n"));
}

TEST_F(ExchangeTest, LastFailedAnswerIsReturnedVerbatim) {
  Build({{"k1"}, {"k2"}});
  auto ex = Start();
  upstream_->Answer(500, "application/json", "", false, false);
  upstream_->Data(R"({"type":"error","error":{"type":"api_error","message":"first"}})", true);
  ASSERT_EQ(upstream_->sent.size(), 2u);
  upstream_->Answer(503, "application/json", "", false, false);
  upstream_->Data(R"({"type":"error","error":{"type":"api_error","message":"last"}})", true);
  // Both providers failed: the last answer goes to the client as it was.
  EXPECT_EQ(client_.status, 503);
  EXPECT_THAT(client_.payload, HasSubstr("\"message\":\"last\""));
  EXPECT_THAT(client_.wire, HasSubstr("x-cc-relay-attempts: 2\r\n"));
  ex->OnClientWritten();
  EXPECT_TRUE(client_.done);
}

TEST_F(ExchangeTest, RejectedKeyIsReplacedByAnotherKeyOfTheSameProvider) {
  Build({{"k1", "k2"}});
  auto ex = Start();
  const std::string first_key =
      upstream_->sent[0].head.find("k1") != std::string::npos ? "k1" : "k2";
  upstream_->Answer(401, "application/json", "{}", true, true);
  ASSERT_EQ(upstream_->sent.size(), 2u);
  EXPECT_EQ(upstream_->sent[1].port, "9100");
  EXPECT_THAT(upstream_->sent[1].head,
              HasSubstr(std::string("x-api-key: ") + (first_key == "k1" ? "k2" : "k1")));
}

TEST_F(ExchangeTest, StalePooledConnectionIsRetriedOnceOnAFreshOneWithoutAnAttempt) {
  Build({{"k1"}});
  auto ex = Start();
  upstream_->Fail(upstream::FailureKind::kReset, "write: Broken pipe", /*stale=*/true);
  ASSERT_EQ(upstream_->sent.size(), 2u);
  EXPECT_TRUE(upstream_->sent[1].fresh_connection);
  EXPECT_EQ(upstream_->sent[1].body, upstream_->sent[0].body);
  upstream_->Answer(200, "application/json", "{}", true, true);
  EXPECT_THAT(client_.wire, HasSubstr("x-cc-relay-attempts: 1\r\n"));
}

TEST_F(ExchangeTest, TransportFailuresEverywhereGiveA502WithTheLastReason) {
  Build({{"k1"}, {"k2"}});
  auto ex = Start();
  upstream_->Fail(upstream::FailureKind::kConnect, "connect: Connection refused");
  upstream_->Fail(upstream::FailureKind::kConnect, "connect: No route to host");
  EXPECT_EQ(client_.status, 502);
  EXPECT_THAT(client_.payload, HasSubstr("upstream connection failed: connect: No route to host"));
  EXPECT_THAT(client_.payload, HasSubstr("\"type\":\"error\""));
  EXPECT_THAT(client_.wire, HasSubstr("x-should-retry: true"));
}

TEST_F(ExchangeTest, TimeoutGivesA504) {
  Build({{"k1"}});
  auto ex = Start();
  upstream_->Fail(upstream::FailureKind::kTimeout, "response: Operation canceled");
  EXPECT_EQ(client_.status, 504);
  EXPECT_THAT(client_.payload, HasSubstr("timeout_error"));
}

TEST_F(ExchangeTest, UpstreamDeathMidStreamEndsWithAnErrorEventAndAWellFormedBody) {
  Build({{"k1"}});
  auto ex = Start();
  upstream_->Answer(200, "text/event-stream", "event: message_start\ndata: {}\n\n");
  ex->OnClientWritten();
  upstream_->Data("event: content_block_delta\ndata: {\"trunc", false);
  upstream_->Fail(upstream::FailureKind::kReset, "end of stream");
  EXPECT_THAT(client_.wire, HasSubstr("event: error"));
  EXPECT_THAT(client_.wire, HasSubstr("upstream connection lost mid-stream: end of stream"));
  EXPECT_THAT(client_.wire, Not(HasSubstr("trunc")));
  EXPECT_TRUE(client_.wire.ends_with("0\r\n\r\n"));
  EXPECT_TRUE(upstream_->cancelled);
  ex->OnClientWritten();
  EXPECT_TRUE(client_.done);
}

TEST_F(ExchangeTest, ClientGoneAbandonsTheUpstreamRequest) {
  Build({{"k1"}});
  auto ex = Start();
  upstream_->Answer(200, "text/event-stream", "event: ping\ndata: {}\n\n");
  ex->OnClientGone();
  EXPECT_TRUE(upstream_->cancelled);
  EXPECT_FALSE(client_.done);  // the session dropped it already
}

TEST_F(ExchangeTest, OllamaWithoutKeysSendsItsPlaceholderNeverTheClientsKey) {
  v1::RoutingSnapshot s;
  s.set_version(2);
  auto* p = s.add_providers();
  p->set_name("p0");
  p->set_type("ollama");
  p->set_enabled(true);
  p->set_base_url("http://127.0.0.1:9100");
  s.mutable_routing()->set_strategy("failover");
  s.mutable_routing()->set_failover_primary("p0");
  auto table = routing::CompileRoutingTable(s, states_);
  ASSERT_TRUE(table.ok());
  table_ = *table;
  auto ex = Start(R"({"model":"claude-haiku-4-5","max_tokens":1,"messages":[]})");
  // Ollama without keys sends its placeholder key, never the client's.
  ASSERT_EQ(upstream_->sent.size(), 1u);
  EXPECT_THAT(upstream_->sent[0].head, HasSubstr("x-api-key: ollama\r\n"));
  EXPECT_THAT(upstream_->sent[0].head, Not(HasSubstr("client-key")));
}

}  // namespace
}  // namespace ccrelay::proxy
