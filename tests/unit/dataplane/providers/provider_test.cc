#include "dataplane/providers/provider.h"

#include <string>

#include <boost/beast/http/fields.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "dataplane/http/request_scan.h"

namespace ccrelay::providers {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ProviderTest : public ::testing::Test {
 protected:
  ProviderTest() {
    headers_.set("x-api-key", "client-key");
    headers_.set("authorization", "Bearer client-token");
    headers_.set("anthropic-beta", "interleaved-thinking-2025-05-14");
    headers_.set("connection", "x-private");
    headers_.set("x-private", "hop");
    headers_.set("accept-encoding", "gzip");
    headers_.set("x-cc-relay-anything", "internal");
    auto info = http::ScanRequestBody(&body_);
    EXPECT_TRUE(info.ok());
    info_ = *info;
  }

  UpstreamRequestPlan Build(std::string_view type, std::string_view key, bool passthrough,
                            std::string_view mapped, auth::AuthMethod client_auth =
                                                         auth::AuthMethod::kOpen) {
    const Provider* p = FindProvider(type);
    EXPECT_NE(p, nullptr) << type;
    ClientRequestView view{"/v1/messages?beta=true", headers_, info_, body_, false, client_auth};
    UpstreamTarget target;
    target.host_header = "api.example";
    target.path_prefix = "/api/anthropic";
    target.mapped_model = mapped;
    target.key = key;
    target.passthrough = passthrough;
    UpstreamRequestPlan plan;
    p->BuildRequest(view, target, &plan);
    return plan;
  }

  http::RequestFields headers_;
  std::string body_ = R"({"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]})";
  http::RequestInfo info_;
};

TEST_F(ProviderTest, RegistryKnowsEachTypeAndNothingElse) {
  for (std::string_view type : {"anthropic", "zai", "ollama"}) {
    const Provider* p = FindProvider(type);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(p->Type(), type);
  }
  EXPECT_EQ(FindProvider("bedrock-typo"), nullptr);
}

TEST_F(ProviderTest, AnthropicWithAKeyReplacesTheClientsCredentialsAndKeepsTheBody) {
  const UpstreamRequestPlan plan = Build("anthropic", "sk-ant-api03-k", false, "claude-sonnet-4-5");
  EXPECT_THAT(plan.head, HasSubstr("POST /api/anthropic/v1/messages?beta=true HTTP/1.1\r\n"
                                   "Host: api.example\r\n"));
  EXPECT_THAT(plan.head, HasSubstr("x-api-key: sk-ant-api03-k\r\n"));
  EXPECT_THAT(plan.head, Not(HasSubstr("client-key")));
  EXPECT_THAT(plan.head, Not(HasSubstr("client-token")));
  EXPECT_THAT(plan.head, Not(HasSubstr("x-private")));
  EXPECT_THAT(plan.head, Not(HasSubstr("gzip")));
  EXPECT_THAT(plan.head, Not(HasSubstr("x-cc-relay-anything")));
  EXPECT_THAT(plan.head, HasSubstr("anthropic-beta: interleaved-thinking-2025-05-14\r\n"));
  EXPECT_THAT(plan.head, HasSubstr("Accept-Encoding: identity\r\n"));
  EXPECT_THAT(plan.head, HasSubstr("Content-Length: " + std::to_string(body_.size()) + "\r\n"));
  EXPECT_TRUE(plan.head.ends_with("\r\n\r\n"));
  EXPECT_EQ(plan.body_kind, UpstreamRequestPlan::BodyKind::kUnchanged);
}

TEST_F(ProviderTest, SubscriptionTokenAsAKeyGoesAsBearer) {
  const UpstreamRequestPlan plan =
      Build("anthropic", "sk-ant-oat01-token", false, "claude-sonnet-4-5");
  EXPECT_THAT(plan.head, HasSubstr("Authorization: Bearer sk-ant-oat01-token\r\n"));
  EXPECT_THAT(plan.head, Not(HasSubstr("x-api-key")));
}

TEST_F(ProviderTest, PassthroughForwardsTheClientsCredentialsButNeverTheRelaysOwn) {
  UpstreamRequestPlan plan = Build("anthropic", "", true, "claude-sonnet-4-5");
  EXPECT_THAT(plan.head, HasSubstr("x-api-key: client-key\r\n"));
  EXPECT_THAT(plan.head, HasSubstr("authorization: Bearer client-token\r\n"));
  // The x-api-key was the relay's own api_key: it stays here.
  plan = Build("anthropic", "", true, "claude-sonnet-4-5", auth::AuthMethod::kApiKey);
  EXPECT_THAT(plan.head, Not(HasSubstr("client-key")));
  EXPECT_THAT(plan.head, HasSubstr("client-token"));
  plan = Build("anthropic", "", true, "claude-sonnet-4-5", auth::AuthMethod::kBearer);
  EXPECT_THAT(plan.head, Not(HasSubstr("client-token")));
}

TEST_F(ProviderTest, ZaiAndOllamaAuthenticateTheirWay) {
  EXPECT_THAT(Build("zai", "zai-key", false, "glm-4.7").head,
              HasSubstr("Authorization: Bearer zai-key\r\n"));
  // Ollama has no passthrough: without a key it sends its placeholder, never the client's.
  const UpstreamRequestPlan plan = Build("ollama", "", true, "qwen3");
  EXPECT_THAT(plan.head, HasSubstr("x-api-key: ollama\r\n"));
  EXPECT_THAT(plan.head, Not(HasSubstr("client-key")));
}

TEST_F(ProviderTest, MappedModelIsOneSpliceOfTheModelToken) {
  const UpstreamRequestPlan plan = Build("zai", "k", false, "glm-4.5-air");
  ASSERT_EQ(plan.body_kind, UpstreamRequestPlan::BodyKind::kSpliced);
  ASSERT_EQ(plan.splices.size(), 1u);
  const auto& s = plan.splices[0];
  EXPECT_EQ(body_.substr(s.begin, s.end - s.begin), "\"claude-sonnet-4-5\"");
  EXPECT_EQ(s.replacement, "\"glm-4.5-air\"");
  std::string sent = body_;
  sent.replace(s.begin, s.end - s.begin, s.replacement);
  EXPECT_EQ(plan.BodySize(body_), sent.size());
  EXPECT_THAT(plan.head, HasSubstr("Content-Length: " + std::to_string(sent.size()) + "\r\n"));
}

TEST(ClassifyTest, AnthropicStatusesDrivePoolAndRetries) {
  struct Case {
    int status;
    bool pooled;
    AnswerClass answer;
    bool retryable;
  };
  const Case cases[] = {
      {200, true, AnswerClass::kSuccess, false},
      {400, true, AnswerClass::kClientError, false},
      {413, true, AnswerClass::kClientError, false},
      {429, true, AnswerClass::kRateLimited, true},
      {401, true, AnswerClass::kKeyRejected, true},
      {403, true, AnswerClass::kKeyRejected, true},
      {401, false, AnswerClass::kClientError, false},  // the client's own credentials
      {529, true, AnswerClass::kOverloaded, true},
      {500, true, AnswerClass::kServerError, true},
      {502, true, AnswerClass::kServerError, true},
      {503, true, AnswerClass::kServerError, true},
      {504, true, AnswerClass::kServerError, true},
      {501, true, AnswerClass::kServerError, false},
  };
  const boost::beast::http::fields none;
  for (const Case& c : cases) {
    const AnswerVerdict v = FindProvider("anthropic")->Classify(c.status, none, c.pooled);
    EXPECT_EQ(v.answer, c.answer) << c.status;
    EXPECT_EQ(v.retryable, c.retryable) << c.status;
  }
}

}  // namespace
}  // namespace ccrelay::providers
