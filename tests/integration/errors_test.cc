// Errors the relay makes itself: each is Anthropic JSON with a request id, nothing reaches the
// upstream, and the relay keeps serving afterwards.
#include <cstdio>
#include <string>

#include "gtest/gtest.h"

#include "tests/fakes/fake_upstream.h"
#include "tests/fakes/http_client.h"
#include "tests/fakes/relay_fixture.h"

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

class ErrorsTest : public RelayTest {
 public:
  void ExpectStillServing() {
    HttpResponse health = Get("/health");
    EXPECT_EQ(health.status, 200) << "relay stopped serving: " << health.error;
  }
};

TEST_F(ErrorsTest, MalformedJsonIs400) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  for (const char* body : {R"({"model":"claude-test-1","messages":[)", "not json at all",
                           R"({"model":"claude-test-1",})", ""}) {
    HttpResponse resp = Post("/v1/messages", body);
    EXPECT_EQ(resp.status, 400) << body;
    EXPECT_TRUE(IsAnthropicError(resp.body, "invalid_request_error")) << body;
    EXPECT_TRUE(resp.Header("x-cc-relay-request-id").has_value()) << body;
  }
  EXPECT_EQ(fake.request_count(), 0u);
  ExpectStillServing();
}

TEST_F(ErrorsTest, MissingOrNonStringModelIs400) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  for (const char* body : {R"({"max_tokens":10,"messages":[]})",
                           R"({"model":42,"max_tokens":10,"messages":[]})", "[1,2,3]"}) {
    HttpResponse resp = Post("/v1/messages", body);
    EXPECT_EQ(resp.status, 400) << body;
    EXPECT_TRUE(IsAnthropicError(resp.body, "invalid_request_error")) << body;
  }
  EXPECT_EQ(fake.request_count(), 0u);
}

TEST_F(ErrorsTest, UnknownPathIs404) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  HttpResponse post = Post("/v1/nothing-here", MessageBody());
  EXPECT_EQ(post.status, 404);
  EXPECT_TRUE(IsAnthropicError(post.body, "not_found_error"));
  HttpResponse get = Get("/v2/models");
  EXPECT_EQ(get.status, 404);
  EXPECT_TRUE(IsAnthropicError(get.body, "not_found_error"));
  EXPECT_EQ(fake.request_count(), 0u);
  ExpectStillServing();
}

TEST_F(ErrorsTest, WrongMethodIs405) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  HttpResponse get = Get("/v1/messages", ClientHeaders());
  EXPECT_EQ(get.status, 405);
  EXPECT_TRUE(IsAnthropicError(get.body, "invalid_request_error")) << get.body;
  HttpResponse del = Fetch(port(), "DELETE", "/v1/messages", ClientHeaders(), "");
  EXPECT_EQ(del.status, 405);
  HttpResponse post_models = Post("/v1/models", "{}");
  EXPECT_EQ(post_models.status, 405);
  EXPECT_EQ(fake.request_count(), 0u);
  ExpectStillServing();
}

TEST_F(ErrorsTest, BodyOverLimitIs413) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake);
  config.max_body_bytes = 2048;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  const std::string body = R"({"model":"claude-test-1","max_tokens":10,"messages":[)"
                           R"({"role":"user","content":")" +
                           std::string(4096, 'a') + R"("}]})";
  HttpResponse resp = Post("/v1/messages", body);
  EXPECT_EQ(resp.status, 413) << resp.error;
  EXPECT_TRUE(IsAnthropicError(resp.body, "request_too_large"));
  // A chunked body (no content-length) that grows past the limit.
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  Headers chunked = ClientHeaders();
  chunked.emplace_back("transfer-encoding", "chunked");
  char size_line[32];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", body.size());
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/v1/messages", chunked, "") + size_line + body +
                         "\r\n0\r\n\r\n"));
  HttpResponse chunked_resp = conn->ReadResponse(milliseconds(5000));
  EXPECT_EQ(chunked_resp.status, 413) << chunked_resp.error;
  EXPECT_TRUE(IsAnthropicError(chunked_resp.body, "request_too_large"));
  // Just under the limit is fine.
  const std::string small = R"({"model":"claude-test-1","max_tokens":10,"messages":[)"
                            R"({"role":"user","content":")" +
                            std::string(1900, 'a') + R"("}]})";
  ASSERT_LE(small.size(), 2048u);
  EXPECT_EQ(Post("/v1/messages", small).status, 200);
  EXPECT_EQ(fake.request_count(), 1u);
  ExpectStillServing();
}

TEST_F(ErrorsTest, OversizedHeadersAre431) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake);
  config.max_header_bytes = 8192;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  Headers headers = ClientHeaders();
  headers.emplace_back("x-big", std::string(16384, 'h'));
  HttpResponse resp = Post("/v1/messages", MessageBody(), headers);
  EXPECT_EQ(resp.status, 431) << resp.error;
  EXPECT_TRUE(IsAnthropicError(resp.body, "invalid_request_error")) << resp.body;
  EXPECT_EQ(fake.request_count(), 0u);
  ExpectStillServing();
}

// True if the relay answered 408 or closed the connection.
::testing::AssertionResult TimedOut(HttpConnection& conn) {
  HttpResponse resp = conn.ReadResponse(milliseconds(4000));
  if (resp.status == 408) {
    return ::testing::AssertionSuccess();
  }
  if (resp.status == 0 && resp.error.find("timeout") == std::string::npos) {
    return ::testing::AssertionSuccess();  // closed
  }
  return ::testing::AssertionFailure()
         << "status " << resp.status << " error '" << resp.error << "' body " << resp.body;
}

TEST_F(ErrorsTest, StalledHeadersAreTimedOut) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake);
  config.timeouts.request_header_ms = 300;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send("POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nx-api"));
  EXPECT_TRUE(TimedOut(*conn));
  EXPECT_EQ(fake.request_count(), 0u);
  ExpectStillServing();
}

TEST_F(ErrorsTest, TrickledHeadersAreTimedOut) {
  // One byte every 100 ms: a header deadline that restarted on every byte would never fire.
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake);
  config.timeouts.request_header_ms = 500;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  const std::string request = BuildRequest("POST", "/v1/messages", ClientHeaders(), MessageBody());
  const std::string head = request.substr(0, request.find("\r\n\r\n"));
  bool cut_off = false;
  for (size_t i = 0; i < head.size() && i < 40; ++i) {
    if (!conn->Send(head.substr(i, 1)) || conn->WaitForClose(milliseconds(100))) {
      cut_off = true;
      break;
    }
  }
  if (!cut_off) {
    cut_off = conn->pending_bytes().find("408") != std::string::npos;
  }
  EXPECT_TRUE(cut_off) << "the relay waited 4 s for headers trickled byte by byte";
  EXPECT_EQ(fake.request_count(), 0u);
  ExpectStillServing();
}

TEST_F(ErrorsTest, StalledBodyIsTimedOut) {
  FakeUpstream fake;
  RelayConfig config = OneProvider(fake);
  config.timeouts.request_body_ms = 300;
  ASSERT_NO_FATAL_FAILURE(StartRelay(config));
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  Headers headers = ClientHeaders();
  headers.emplace_back("content-length", "500");
  ASSERT_TRUE(conn->Send(BuildRequest("POST", "/v1/messages", headers, R"({"model":"claude)")));
  EXPECT_TRUE(TimedOut(*conn));
  EXPECT_EQ(fake.request_count(), 0u);
  ExpectStillServing();
}

TEST_F(ErrorsTest, GarbageRequestLineDoesNotKillTheRelay) {
  FakeUpstream fake;
  ASSERT_NO_FATAL_FAILURE(StartRelay(OneProvider(fake)));
  auto conn = HttpConnection::Connect(port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->Send("GARBAGE / NOT-HTTP\r\n\r\n"));
  HttpResponse resp = conn->ReadResponse(milliseconds(4000));
  EXPECT_TRUE(resp.status == 400 || resp.status == 0) << resp.status;
  EXPECT_EQ(resp.error.find("timeout"), std::string::npos) << "no answer, no close";
  ExpectStillServing();
}

}  // namespace
}  // namespace ccrelay::testing
