#include "dataplane/http/anthropic_error.h"

#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

namespace ccrelay::http {
namespace {

TEST(AnthropicErrorTest, BodyExactBytes) {
  EXPECT_EQ(AnthropicErrorBody("not_found_error", "The requested resource could not be found.",
                               "req_011CSHoEeqs5C35K2UUqR7Fy"),
            R"({"type":"error","error":{"type":"not_found_error","message":"The requested )"
            R"(resource could not be found."},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"})");
}

TEST(AnthropicErrorTest, MessageIsEscaped) {
  const std::string body =
      AnthropicErrorBody("invalid_request_error",
                         "say \"hi\" \\ path\nline\ttab\x01\x1f caf\xC3\xA9 \xE2\x9C\x93", "req_1");
  EXPECT_EQ(body,
            "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":"
            "\"say \\\"hi\\\" \\\\ path\\nline\\ttab\\u0001\\u001f caf\xC3\xA9 \xE2\x9C\x93\"},"
            "\"request_id\":\"req_1\"}");
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded());
  EXPECT_EQ(parsed["error"]["message"],
            std::string("say \"hi\" \\ path\nline\ttab\x01\x1f caf\xC3\xA9 \xE2\x9C\x93"));
}

TEST(AnthropicErrorTest, EmptyFields) {
  EXPECT_EQ(AnthropicErrorBody("api_error", "", ""),
            R"({"type":"error","error":{"type":"api_error","message":""},"request_id":""})");
}

TEST(AnthropicErrorTest, EventExactBytes) {
  EXPECT_EQ(AnthropicErrorEvent("overloaded_error", "Overloaded", "req_2"),
            "event: error\ndata: "
            R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},)"
            R"("request_id":"req_2"})"
            "\n\n");
}

TEST(AnthropicErrorTest, EventDataStaysOnOneLine) {
  const std::string event = AnthropicErrorEvent("api_error", "a\nb\r\nc", "r");
  EXPECT_EQ(event.find('\r'), std::string::npos);
  // Only the line ends of the event itself: "event:" line, "data:" line, blank line.
  size_t newlines = 0;
  for (char c : event) {
    newlines += c == '\n' ? 1 : 0;
  }
  EXPECT_EQ(newlines, 3u);
}

TEST(AnthropicErrorTest, ErrorTypeForStatus) {
  EXPECT_EQ(ErrorTypeForStatus(400), "invalid_request_error");
  EXPECT_EQ(ErrorTypeForStatus(401), "authentication_error");
  EXPECT_EQ(ErrorTypeForStatus(402), "billing_error");
  EXPECT_EQ(ErrorTypeForStatus(403), "permission_error");
  EXPECT_EQ(ErrorTypeForStatus(404), "not_found_error");
  EXPECT_EQ(ErrorTypeForStatus(405), "invalid_request_error");
  EXPECT_EQ(ErrorTypeForStatus(409), "conflict_error");
  EXPECT_EQ(ErrorTypeForStatus(413), "request_too_large");
  EXPECT_EQ(ErrorTypeForStatus(429), "rate_limit_error");
  EXPECT_EQ(ErrorTypeForStatus(431), "invalid_request_error");
  EXPECT_EQ(ErrorTypeForStatus(500), "api_error");
  EXPECT_EQ(ErrorTypeForStatus(502), "api_error");
  EXPECT_EQ(ErrorTypeForStatus(503), "api_error");
  EXPECT_EQ(ErrorTypeForStatus(504), "timeout_error");
  EXPECT_EQ(ErrorTypeForStatus(529), "overloaded_error");
  EXPECT_EQ(ErrorTypeForStatus(418), "invalid_request_error");
  EXPECT_EQ(ErrorTypeForStatus(499), "invalid_request_error");
  EXPECT_EQ(ErrorTypeForStatus(501), "api_error");
  EXPECT_EQ(ErrorTypeForStatus(599), "api_error");
}

}  // namespace
}  // namespace ccrelay::http
