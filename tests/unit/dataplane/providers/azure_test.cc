#include "dataplane/providers/azure.h"

#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <boost/beast/http/fields.hpp>

#include "dataplane/http/request_scan.h"
#include "tests/unit/dataplane/providers/plan_util.h"

namespace ccrelay::providers {
namespace {

using ::testing::HasSubstr;
using testing::HeadValue;
using ::testing::Not;
using testing::RequestLine;
using testing::SentBody;

class AzureTest : public ::testing::Test {
 protected:
  AzureTest() {
    headers_.set("x-api-key", "client-key");
    headers_.set("authorization", "Bearer client-token");
    headers_.set("anthropic-version", "2023-06-01");
    headers_.set("anthropic-beta", "claude-code-20250219,fine-grained-tool-streaming-2025-05-14");
    info_ = *http::ScanRequestBody(&body_);
  }

  UpstreamRequestPlan Build(std::string_view key, bool oauth_token, std::string_view mapped,
                            bool count_tokens = false) {
    ClientRequestView view{
        count_tokens ? "/v1/messages/count_tokens?beta=true" : "/v1/messages?beta=true",
        headers_,
        info_,
        body_,
        count_tokens,
        auth::AuthMethod::kOpen};
    UpstreamTarget target;
    target.host_header = "my-res.services.ai.azure.com";
    target.path_prefix = "/anthropic";
    target.mapped_model = mapped;
    target.key = key;
    target.oauth_token = oauth_token;
    UpstreamRequestPlan plan;
    FindProvider("azure")->BuildRequest(view, target, &plan);
    return plan;
  }

  http::RequestFields headers_;
  std::string body_ = R"({"model":"claude-opus-4-1","max_tokens":5,"messages":[]})";
  http::RequestInfo info_;
};

TEST_F(AzureTest, DefaultBaseUrlNamesTheResource) {
  EXPECT_EQ(AzureDefaultBaseUrl("my-res"), "https://my-res.services.ai.azure.com/anthropic");
}

TEST_F(AzureTest, ApiKeyGoesInBothHeadersAndThePathAndQueryAreKept) {
  const UpstreamRequestPlan plan = Build("az-key-1", false, "my-opus-deployment");
  EXPECT_EQ(RequestLine(plan.head), "POST /anthropic/v1/messages?beta=true HTTP/1.1");
  EXPECT_EQ(HeadValue(plan.head, "api-key"), "az-key-1");
  EXPECT_EQ(HeadValue(plan.head, "x-api-key"), "az-key-1");
  EXPECT_THAT(plan.head, Not(HasSubstr("Authorization")));
  EXPECT_THAT(plan.head, Not(HasSubstr("client-key")));
  EXPECT_THAT(plan.head, Not(HasSubstr("client-token")));
  EXPECT_EQ(SentBody(plan, body_),
            R"({"model":"my-opus-deployment","max_tokens":5,"messages":[]})");
  EXPECT_EQ(HeadValue(plan.head, "Content-Length"), std::to_string(SentBody(plan, body_).size()));
}

TEST_F(AzureTest, EntraTokenGoesAsBearer) {
  const UpstreamRequestPlan plan = Build("eyJ0eXAi.entra", true, "claude-opus-4-1");
  EXPECT_EQ(HeadValue(plan.head, "Authorization"), "Bearer eyJ0eXAi.entra");
  EXPECT_THAT(plan.head, Not(HasSubstr("api-key")));
  EXPECT_EQ(plan.body_kind, UpstreamRequestPlan::BodyKind::kUnchanged);
}

TEST_F(AzureTest, BetasGoThroughTheAzureTable) {
  const UpstreamRequestPlan plan = Build("k", false, "claude-opus-4-1");
  EXPECT_EQ(HeadValue(plan.head, "anthropic-beta"), "claude-code-20250219");
  EXPECT_EQ(plan.betas.dropped.Joined(), "fine-grained-tool-streaming-2025-05-14");
}

TEST_F(AzureTest, CountTokensIsTheAnthropicPath) {
  const UpstreamRequestPlan plan = Build("k", false, "claude-opus-4-1", true);
  EXPECT_EQ(RequestLine(plan.head), "POST /anthropic/v1/messages/count_tokens?beta=true HTTP/1.1");
}

TEST_F(AzureTest, HealthCheckCountsTokensOnTheDeployment) {
  UpstreamTarget target;
  target.host_header = "my-res.services.ai.azure.com";
  target.path_prefix = "/anthropic";
  target.key = "k1";
  UpstreamRequestPlan plan;
  FindProvider("azure")->BuildHealthCheck(target, "dep-1", &plan);
  EXPECT_EQ(RequestLine(plan.head), "POST /anthropic/v1/messages/count_tokens HTTP/1.1");
  EXPECT_EQ(HeadValue(plan.head, "api-key"), "k1");
  EXPECT_EQ(plan.rewritten_body,
            R"({"model":"dep-1","messages":[{"role":"user","content":"ping"}]})");
  EXPECT_EQ(HeadValue(plan.head, "Content-Length"), std::to_string(plan.rewritten_body.size()));
  target.oauth_token = true;
  UpstreamRequestPlan entra;
  FindProvider("azure")->BuildHealthCheck(target, "", &entra);
  EXPECT_EQ(HeadValue(entra.head, "Authorization"), "Bearer k1");
  EXPECT_THAT(entra.rewritten_body, HasSubstr(R"("model":"claude-sonnet-4-5")"));
}

TEST_F(AzureTest, DescribesTheType) {
  const Provider* p = FindProvider("azure");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->OwnedBy(), "azure-foundry");
  EXPECT_TRUE(p->ListsDeployments());
  EXPECT_FALSE(p->SupportsPassthrough());
  EXPECT_FALSE(p->UsableWithoutKeys());
  EXPECT_EQ(p->NewResponseDecoder(429, boost::beast::http::fields(), false), nullptr);
}

}  // namespace
}  // namespace ccrelay::providers
