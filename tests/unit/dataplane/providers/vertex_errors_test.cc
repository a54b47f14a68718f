#include "dataplane/providers/vertex/vertex_errors.h"

#include <string>

#include "gtest/gtest.h"
#include <boost/beast/http/fields.hpp>

#include "dataplane/providers/provider.h"

namespace ccrelay::providers {
namespace {

using vertex::AnthropicErrorTypeForGoogleStatus;
using vertex::TranslateVertexError;

TEST(VertexErrorsTest, QuotaErrorBecomesRateLimitError) {
  EXPECT_EQ(
      TranslateVertexError(
          429, R"({"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com)"
               R"(/online_prediction_requests_per_base_model","status":"RESOURCE_EXHAUSTED"}})"),
      R"({"type":"error","error":{"type":"rate_limit_error","message":"Quota exceeded for )"
      R"(aiplatform.googleapis.com/online_prediction_requests_per_base_model"}})");
}

TEST(VertexErrorsTest, ErrorWrappedInAnArray) {
  EXPECT_EQ(
      TranslateVertexError(
          403,
          R"([{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}])"),
      R"({"type":"error","error":{"type":"permission_error","message":"Permission denied"}})");
}

TEST(VertexErrorsTest, EachStatusMapsToItsType) {
  EXPECT_EQ(AnthropicErrorTypeForGoogleStatus("UNAUTHENTICATED"), "authentication_error");
  EXPECT_EQ(AnthropicErrorTypeForGoogleStatus("NOT_FOUND"), "not_found_error");
  EXPECT_EQ(AnthropicErrorTypeForGoogleStatus("INVALID_ARGUMENT"), "invalid_request_error");
  EXPECT_EQ(AnthropicErrorTypeForGoogleStatus("UNAVAILABLE"), "overloaded_error");
  EXPECT_EQ(AnthropicErrorTypeForGoogleStatus("DEADLINE_EXCEEDED"), "timeout_error");
  EXPECT_EQ(AnthropicErrorTypeForGoogleStatus("INTERNAL"), "api_error");
  EXPECT_EQ(AnthropicErrorTypeForGoogleStatus("SOMETHING_NEW"), "");
  EXPECT_EQ(
      TranslateVertexError(
          404,
          R"({"error":{"code":404,"message":"Publisher Model `x` not found.","status":"NOT_FOUND"}})"),
      R"({"type":"error","error":{"type":"not_found_error","message":"Publisher Model `x` not found."}})");
}

TEST(VertexErrorsTest, AnthropicErrorsPassUnchanged) {
  const std::string body =
      R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}})";
  EXPECT_EQ(TranslateVertexError(400, body), body);
}

TEST(VertexErrorsTest, UnknownShapesTakeTheStatussType) {
  EXPECT_EQ(
      TranslateVertexError(502, "<html>Bad Gateway</html>"),
      R"({"type":"error","error":{"type":"api_error","message":"Vertex AI answered HTTP 502"}})");
  EXPECT_EQ(TranslateVertexError(429, R"({"error":{"code":429,"status":"NEW_STATUS"}})"),
            R"x({"type":"error","error":{"type":"rate_limit_error","message":"Vertex AI answered )x"
            R"x(HTTP 429 (NEW_STATUS)"}})x");
  EXPECT_EQ(TranslateVertexError(401, ""),
            R"({"type":"error","error":{"type":"authentication_error","message":"Vertex AI )"
            R"(answered HTTP 401"}})");
}

TEST(VertexErrorsTest, DecoderBuffersAndTranslatesAtTheEnd) {
  const Provider* p = FindProvider("vertex");
  boost::beast::http::fields headers;
  EXPECT_EQ(p->NewResponseDecoder(200, headers, false), nullptr);
  EXPECT_EQ(p->NewResponseDecoder(200, headers, true), nullptr);
  ResponseDecoderPtr d = p->NewResponseDecoder(429, headers, false);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->ContentType(), "application/json");
  std::string out;
  ASSERT_TRUE(d->Decode(R"([{"error":{"code":429,"message":"slow )", false, &out).ok());
  EXPECT_EQ(out, "");
  ASSERT_TRUE(d->Decode(R"(down","status":"RESOURCE_EXHAUSTED"}}])", true, &out).ok());
  EXPECT_EQ(out, R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})");
}

TEST(VertexErrorsTest, DecoderRefusesAHugeBody) {
  vertex::VertexErrorAnswer d(500);
  std::string out;
  const std::string chunk(vertex::VertexErrorAnswer::kMaxBodyBytes, 'x');
  EXPECT_TRUE(d.Decode(chunk, false, &out).ok());
  EXPECT_FALSE(d.Decode("y", true, &out).ok());
}

TEST(VertexErrorsTest, ClassifyDrivesThePool) {
  const Provider* p = FindProvider("vertex");
  boost::beast::http::fields h;
  struct Case {
    int status;
    AnswerClass answer;
    bool retryable;
  };
  for (const Case& c :
       {Case{200, AnswerClass::kSuccess, false}, Case{429, AnswerClass::kRateLimited, true},
        Case{401, AnswerClass::kKeyRejected, true}, Case{403, AnswerClass::kKeyRejected, true},
        Case{500, AnswerClass::kServerError, true}, Case{503, AnswerClass::kServerError, true},
        Case{504, AnswerClass::kServerError, true}, Case{529, AnswerClass::kOverloaded, true},
        Case{404, AnswerClass::kClientError, false}, Case{400, AnswerClass::kClientError, false}}) {
    const AnswerVerdict v = p->Classify(c.status, h, true);
    EXPECT_EQ(v.answer, c.answer) << c.status;
    EXPECT_EQ(v.retryable, c.retryable) << c.status;
  }
}

}  // namespace
}  // namespace ccrelay::providers
