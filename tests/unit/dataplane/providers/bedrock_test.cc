// The Bedrock adapter: the upstream request it builds (URL, body, headers, credentials), the
// decoders it picks and how it classifies Bedrock's answers. SigV4 itself, the body rewrite and
// the event-stream decoder have tests of their own (tests/unit/dataplane/providers/bedrock/).
#include "dataplane/providers/bedrock.h"

#include <array>
#include <string>

#include <boost/beast/http/fields.hpp>
#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "absl/strings/escaping.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/providers/bedrock/sigv4.h"

namespace ccrelay::providers {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
constexpr int64_t kSuiteTime = 1440938160;

class BedrockProviderTest : public ::testing::Test {
 protected:
  BedrockProviderTest() {
    headers_.set("x-api-key", "client-key");
    headers_.set("anthropic-version", "2023-06-01");
    headers_.insert("anthropic-beta", "claude-code-20250219,context-1m-2025-08-07");
    headers_.insert("anthropic-beta", "oauth-2025-04-20");
    headers_.set("user-agent", "claude-cli/2.1 (external, cli)");
    headers_.set("x-amzn-bedrock-guardrailidentifier", "gr-1");
  }

  UpstreamRequestPlan Build(std::string body, std::string_view mapped, bool count_tokens,
                            const AwsSigningKey* aws, std::string_view key) {
    body_ = std::move(body);
    auto info = http::ScanRequestBody(&body_);
    EXPECT_TRUE(info.ok()) << info.status();
    info_ = *info;
    ClientRequestView view{count_tokens ? "/v1/messages/count_tokens?beta=true"
                                        : "/v1/messages?beta=true",
                           headers_, info_, body_, count_tokens, auth::AuthMethod::kOpen};
    UpstreamTarget target;
    target.host_header = "bedrock-runtime.us-east-1.amazonaws.com";
    target.path_prefix = "";
    target.mapped_model = mapped;
    target.key = key;
    target.aws = aws;
    target.region = "us-east-1";
    target.unix_seconds = kSuiteTime;
    UpstreamRequestPlan plan;
    FindProvider("bedrock")->BuildRequest(view, target, &plan);
    return plan;
  }

  http::RequestFields headers_;
  std::string body_;
  http::RequestInfo info_;
};

constexpr const char* kStreamBody =
    R"({"model":"claude-sonnet-4-5","max_tokens":5,"stream":true,)"
    R"("messages":[{"role":"user","content":"hi"}]})";

TEST_F(BedrockProviderTest, RegisteredAndNeverPassesClientCredentials) {
  const Provider* p = FindProvider("bedrock");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Type(), "bedrock");
  EXPECT_FALSE(p->SupportsPassthrough());
  EXPECT_FALSE(p->UsableWithoutKeys());
  EXPECT_TRUE(p->SupportsCountTokens());
}

TEST_F(BedrockProviderTest, StreamGoesToInvokeWithResponseStreamWithTheModelInThePath) {
  const UpstreamRequestPlan plan =
      Build(kStreamBody, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", false, nullptr, "br-key");
  EXPECT_TRUE(plan.error.empty()) << plan.error;
  EXPECT_THAT(plan.head,
              StartsWith("POST /model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/"
                         "invoke-with-response-stream HTTP/1.1\r\n"
                         "Host: bedrock-runtime.us-east-1.amazonaws.com\r\n"));
  EXPECT_THAT(plan.head, HasSubstr("Authorization: Bearer br-key\r\n"));
  EXPECT_THAT(plan.head, HasSubstr("Accept: application/vnd.amazon.eventstream\r\n"));
  // The client's credentials and Anthropic headers stay behind; Bedrock options go along.
  EXPECT_THAT(plan.head, Not(HasSubstr("client-key")));
  EXPECT_THAT(plan.head, Not(HasSubstr("anthropic-beta")));
  EXPECT_THAT(plan.head, HasSubstr("x-amzn-bedrock-guardrailidentifier: gr-1\r\n"));
  EXPECT_THAT(plan.head, HasSubstr("User-Agent: claude-cli/2.1 (external, cli)\r\n"));
  ASSERT_EQ(plan.body_kind, UpstreamRequestPlan::BodyKind::kRewritten);
  EXPECT_THAT(plan.head, HasSubstr("Content-Length: " +
                                   std::to_string(plan.rewritten_body.size()) + "\r\n"));
  const nlohmann::json body = nlohmann::json::parse(plan.rewritten_body);
  EXPECT_FALSE(body.contains("model"));
  EXPECT_FALSE(body.contains("stream"));
  EXPECT_EQ(body["anthropic_version"], "bedrock-2023-05-31");
  // Only the beta Bedrock accepts, from both headers.
  EXPECT_EQ(body["anthropic_beta"], nlohmann::json::array({"context-1m-2025-08-07"}));
  EXPECT_TRUE(plan.head.ends_with("\r\n\r\n"));
}

TEST_F(BedrockProviderTest, NonStreamGoesToInvokeAndAnArnKeepsItsColonsAndEncodesItsSlash) {
  const UpstreamRequestPlan plan =
      Build(R"({"model":"m","max_tokens":5,"messages":[]})",
            "arn:aws:bedrock:us-east-2:1234:inference-profile/us.anthropic.claude-3-7-sonnet-"
            "20250219-v1:0",
            false, nullptr, "br-key");
  EXPECT_THAT(plan.head,
              StartsWith("POST /model/arn:aws:bedrock:us-east-2:1234:inference-profile%2Fus."
                         "anthropic.claude-3-7-sonnet-20250219-v1:0/invoke HTTP/1.1\r\n"));
  EXPECT_THAT(plan.head, HasSubstr("Accept: application/json\r\n"));
}

TEST_F(BedrockProviderTest, CountTokensWrapsTheInvokeBody) {
  const UpstreamRequestPlan plan =
      Build(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})",
            "anthropic.claude-sonnet-4-5-20250929-v1:0", true, nullptr, "br-key");
  EXPECT_THAT(plan.head, StartsWith("POST /model/anthropic.claude-sonnet-4-5-20250929-v1:0/"
                                    "count-tokens HTTP/1.1\r\n"));
  const nlohmann::json body = nlohmann::json::parse(plan.rewritten_body);
  std::string inner;
  ASSERT_TRUE(absl::Base64Unescape(body["input"]["invokeModel"]["body"].get<std::string>(), &inner));
  const nlohmann::json invoke = nlohmann::json::parse(inner);
  EXPECT_EQ(invoke["anthropic_version"], "bedrock-2023-05-31");
  EXPECT_FALSE(invoke.contains("model"));
}

TEST_F(BedrockProviderTest, IamCredentialsSignTheExactBytesSent) {
  const AwsSigningKey aws{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok-1"};
  const UpstreamRequestPlan plan =
      Build(kStreamBody, "us.anthropic.claude-sonnet-4-5-20250929-v1:0", false, &aws, "");
  EXPECT_THAT(plan.head, HasSubstr("X-Amz-Date: 20150830T123600Z\r\n"));
  EXPECT_THAT(plan.head, HasSubstr("X-Amz-Security-Token: tok-1\r\n"));
  EXPECT_THAT(plan.head,
              HasSubstr("Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/"
                        "us-east-1/bedrock/aws4_request, SignedHeaders="));
  EXPECT_THAT(plan.head, Not(HasSubstr("Bearer")));
  EXPECT_THAT(plan.head, Not(HasSubstr("wJalrXUtnFEMI")));
  // The signature is the one of the bytes that go upstream: the rewritten body (hashed here on
  // its own), the path and the signed headers as written in the head.
  std::array<char, bedrock::kSha256HexSize> hash;
  const std::array<std::string_view, 1> pieces = {plan.rewritten_body};
  bedrock::Sha256Hex(pieces, hash.data());
  const std::array<bedrock::SignedHeader, 3> signed_headers = {{
      {"host", "bedrock-runtime.us-east-1.amazonaws.com"},
      {"content-type", "application/json"},
      {"x-amzn-bedrock-guardrailidentifier", "gr-1"},
  }};
  bedrock::SigV4Request sr;
  sr.method = "POST";
  sr.path = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke-with-response-stream";
  sr.headers = signed_headers;
  sr.payload_sha256_hex = std::string_view(hash.data(), hash.size());
  sr.unix_seconds = kSuiteTime;
  sr.region = "us-east-1";
  sr.service = "bedrock";
  std::string expected;
  bedrock::SignV4(sr, {aws.access_key_id, aws.secret_access_key, aws.session_token}, &expected);
  const size_t auth = expected.find("Authorization: ");
  ASSERT_NE(auth, std::string::npos) << expected;
  EXPECT_THAT(plan.head, HasSubstr(expected.substr(auth)));
  EXPECT_THAT(plan.head, HasSubstr(std::string("X-Amz-Content-Sha256: ") +
                                   std::string(hash.data(), hash.size()) + "\r\n"));
}

TEST_F(BedrockProviderTest, ClassifiesBedrockErrors) {
  const Provider& p = *FindProvider("bedrock");
  auto classify = [&](int status, std::string_view type) {
    boost::beast::http::fields f;
    if (!type.empty()) {
      f.set("x-amzn-ErrorType", std::string(type) + ":http://internal.amazon.com/coral/");
    }
    return p.Classify(status, f, true);
  };
  EXPECT_EQ(classify(200, "").answer, AnswerClass::kSuccess);
  EXPECT_EQ(classify(429, "ThrottlingException").answer, AnswerClass::kRateLimited);
  EXPECT_EQ(classify(400, "ServiceQuotaExceededException").answer, AnswerClass::kRateLimited);
  EXPECT_EQ(classify(400, "ValidationException").answer, AnswerClass::kClientError);
  EXPECT_FALSE(classify(400, "ValidationException").retryable);
  EXPECT_EQ(classify(403, "AccessDeniedException").answer, AnswerClass::kKeyRejected);
  EXPECT_EQ(classify(403, "UnrecognizedClientException").answer, AnswerClass::kKeyRejected);
  EXPECT_EQ(classify(503, "ServiceUnavailableException").answer, AnswerClass::kOverloaded);
  EXPECT_EQ(classify(500, "InternalServerException").answer, AnswerClass::kServerError);
  EXPECT_TRUE(classify(424, "ModelErrorException").retryable);
  EXPECT_TRUE(classify(408, "ModelTimeoutException").retryable);
}

TEST_F(BedrockProviderTest, DecodersForStreamsErrorsAndCountTokens) {
  const Provider& p = *FindProvider("bedrock");
  boost::beast::http::fields stream;
  stream.set("content-type", "application/vnd.amazon.eventstream");
  auto d = p.NewResponseDecoder(200, stream, false);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->ContentType(), "text/event-stream");

  boost::beast::http::fields json;
  json.set("content-type", "application/json");
  EXPECT_EQ(p.NewResponseDecoder(200, json, false), nullptr);  // a Message: as it is

  auto count = p.NewResponseDecoder(200, json, true);
  ASSERT_NE(count, nullptr);
  std::string out;
  ASSERT_TRUE(count->Decode(R"({"inputTokens":42})", true, &out).ok());
  EXPECT_EQ(nlohmann::json::parse(out)["input_tokens"], 42);

  json.set("x-amzn-ErrorType", "ThrottlingException:http://internal.amazon.com/coral/");
  auto err = p.NewResponseDecoder(429, json, false);
  ASSERT_NE(err, nullptr);
  out.clear();
  ASSERT_TRUE(err->Decode(R"({"message":"Too many requests"})", true, &out).ok());
  const nlohmann::json e = nlohmann::json::parse(out);
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["error"]["type"], "rate_limit_error");
  EXPECT_EQ(e["error"]["message"], "Too many requests");
}

TEST_F(BedrockProviderTest, HealthCheckCountsTokensSigned) {
  const AwsSigningKey aws{"AKIDEXAMPLE", "secret", ""};
  UpstreamTarget target;
  target.host_header = "bedrock-runtime.eu-west-1.amazonaws.com";
  target.aws = &aws;
  target.region = "eu-west-1";
  target.unix_seconds = kSuiteTime;
  UpstreamRequestPlan plan;
  FindProvider("bedrock")->BuildHealthCheck(target, "", &plan);
  EXPECT_THAT(plan.head, StartsWith(std::string("POST /model/") + std::string(kHealthCheckModel) +
                                    "/count-tokens HTTP/1.1\r\n"));
  EXPECT_THAT(plan.head, HasSubstr("/eu-west-1/bedrock/aws4_request"));
  EXPECT_TRUE(nlohmann::json::parse(plan.rewritten_body).contains("input"));
}

TEST(BedrockModelSegmentTest, EncodesLikeTheSdks) {
  std::string out;
  AppendBedrockModelSegment("a:b/c d@e~f", &out);
  EXPECT_EQ(out, "a:b%2Fc%20d%40e~f");
}

}  // namespace
}  // namespace ccrelay::providers
