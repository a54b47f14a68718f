// The data plane started inside the test process on port 0 (no child process): the session,
// its local endpoints, the exchange and the upstream request against an in-process fake
// upstream, with raw HTTP from the test.
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "proto/snapshot.pb.h"

#include "dataplane/server/data_plane.h"
#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/sync.h"

namespace ccrelay::server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::FakeUpstream;
using testing::Headers;
using testing::HttpConnection;
using testing::RecordedRequest;
using testing::Responder;
using std::chrono::seconds;

std::string Body(size_t bytes, std::string_view model = "claude-sonnet-4-5") {
  std::string body = std::string(R"({"model":")") + std::string(model) +
                     R"(","max_tokens":10,"messages":[{"role":"user","content":")";
  const std::string tail = R"("}]})";
  while (body.size() + tail.size() < bytes) {
    body.push_back(static_cast<char>('a' + body.size() % 26));
  }
  return body + tail;
}

class DataPlaneInProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    upstream_.SetHandler([](const RecordedRequest& req, Responder& r) {
      const std::string answer = R"({"type":"message","echo_bytes":)" +
                                 std::to_string(req.body.size()) + "}";
      r.Respond(200, {{"content-type", "application/json"}}, answer);
    });
    v1::RoutingSnapshot s;
    s.set_version(7);
    auto* p = s.add_providers();
    p->set_name("up");
    p->set_type("anthropic");
    p->set_enabled(true);
    p->set_base_url(upstream_.base_url());
    auto* k = p->add_keys();
    k->set_secret("sk-ant-api03-inprocess");
    k->set_enabled(true);
    k->set_weight(1);
    auto* m = p->add_model_mapping();
    m->set_from("claude-haiku-*");
    m->set_to("mapped-haiku");
    s.mutable_routing()->set_strategy("failover");
    s.mutable_routing()->set_failover_primary("up");
    DataPlane::Options options;
    options.listen = "127.0.0.1:0";
    options.workers = 1;
    auto dp = DataPlane::Create(s, options);
    ASSERT_TRUE(dp.ok()) << dp.status();
    dp_ = *std::move(dp);
    port_ = static_cast<uint16_t>(
        std::stoi(dp_->listen_address().substr(dp_->listen_address().rfind(':') + 1)));
    runner_ = std::thread([this] { dp_->Run(false); });
  }

  void TearDown() override {
    if (dp_) {
      dp_->Shutdown();
    }
    if (runner_.joinable()) {
      runner_.join();
    }
  }

  FakeUpstream upstream_;
  std::unique_ptr<DataPlane> dp_;
  std::thread runner_;
  uint16_t port_ = 0;
};

TEST_F(DataPlaneInProcessTest, LargeThenSmallBodiesOnOneConnectionArriveByteForByte) {
  auto conn = HttpConnection::Connect(port_);
  ASSERT_NE(conn, nullptr);
  // A 200 KB body, then a small one and a mapped one in the reused body buffer: each must go
  // upstream exactly as sent (no bytes of the previous, larger body).
  const std::string bodies[] = {Body(200 * 1024), Body(3 * 1024), Body(100, "claude-haiku-4-5")};
  for (const std::string& body : bodies) {
    ASSERT_TRUE(conn->Send(testing::BuildRequest(
        "POST", "/v1/messages", {{"content-type", "application/json"}}, body)));
    auto resp = conn->ReadResponse(seconds(10));
    ASSERT_EQ(resp.status, 200) << resp.body;
    EXPECT_TRUE(resp.Header("x-cc-relay-request-id").has_value());
  }
  const auto requests = upstream_.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].body, bodies[0]);
  EXPECT_EQ(requests[1].body, bodies[1]);
  std::string mapped = bodies[2];
  mapped.replace(mapped.find("claude-haiku-4-5"), 16, "mapped-haiku");
  EXPECT_EQ(requests[2].body, mapped);
  EXPECT_EQ(requests[2].Header("x-api-key"), "sk-ant-api03-inprocess");
}

TEST_F(DataPlaneInProcessTest, ChunkedRequestBodyIsReassembled) {
  const std::string body = Body(40 * 1024);
  std::string chunked;
  for (size_t at = 0; at < body.size(); at += 5000) {
    const std::string piece = body.substr(at, 5000);
    char size[16];
    std::snprintf(size, sizeof(size), "%zx", piece.size());
    chunked += std::string(size) + "\r\n" + piece + "\r\n";
  }
  chunked += "0\r\n\r\n";
  auto conn = HttpConnection::Connect(port_);
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(testing::BuildRequest(
      "POST", "/v1/messages", {{"transfer-encoding", "chunked"}}, chunked)));
  auto resp = conn->ReadResponse(seconds(10));
  ASSERT_EQ(resp.status, 200) << resp.body;
  ASSERT_EQ(upstream_.request_count(), 1u);
  EXPECT_EQ(upstream_.requests()[0].body, body);
}

TEST_F(DataPlaneInProcessTest, LocalEndpointsAnswerWithoutTheUpstream) {
  auto health = testing::Fetch(port_, "GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok","snapshot_version":7})");
  auto root = testing::Fetch(port_, "HEAD", "/");
  EXPECT_EQ(root.status, 200);
  auto models = testing::Fetch(port_, "GET", "/v1/models?limit=1");
  EXPECT_EQ(models.status, 200);
  EXPECT_THAT(models.body, StartsWith(R"({"object":"list","data":[)"));
  auto missing = testing::Fetch(port_, "GET", "/v2/nothing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.body, HasSubstr(R"("type":"not_found_error")"));
  auto wrong = testing::Fetch(port_, "GET", "/v1/messages");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.Header("allow"), "POST");
  auto bad = testing::Fetch(port_, "POST", "/v1/messages", {}, "{not json");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("invalid_request_error"));
  EXPECT_EQ(upstream_.request_count(), 0u);
}

TEST_F(DataPlaneInProcessTest, StreamReachesTheClientEventByEvent) {
  testing::Notification second;
  upstream_.SetHandler([&](const RecordedRequest&, Responder& r) {
    r.SendHead(200, {{"content-type", "text/event-stream"}}, std::nullopt);
    r.SendBody("event: message_start\ndata: {\"type\":\"message_start\"}\n\n");
    r.WaitFor(second, seconds(10));
    r.SendBody("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    r.Finish();
  });
  auto conn = HttpConnection::Connect(port_);
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send(testing::BuildRequest("POST", "/v1/messages", {}, Body(1000))));
  std::string seen;
  auto resp = conn->ReadResponse(seconds(10), [&](std::string_view piece) {
    seen.append(piece);
    if (seen.find("message_start") != std::string::npos) {
      second.Notify();  // the first event arrived while the upstream still holds the second
    }
    return true;
  });
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.Header("transfer-encoding"), "chunked");
  EXPECT_THAT(seen, HasSubstr("message_stop"));
}

}  // namespace
}  // namespace ccrelay::server
