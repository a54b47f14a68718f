#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <boost/beast/http/fields.hpp>

#include "dataplane/http/request_scan.h"
#include "dataplane/providers/provider.h"
#include "dataplane/providers/vertex.h"
#include "tests/unit/dataplane/providers/plan_util.h"

namespace ccrelay::providers {
namespace {

using ::testing::HasSubstr;
using testing::HeadValue;
using ::testing::Not;
using testing::RequestLine;
using testing::SentBody;

class VertexRequestTest : public ::testing::Test {
 protected:
  VertexRequestTest() {
    headers_.set("x-api-key", "client-key");
    headers_.set("authorization", "Bearer client-token");
    headers_.set("anthropic-version", "2023-06-01");
    headers_.set("anthropic-beta",
                 "claude-code-20250219,context-1m-2025-08-07,interleaved-thinking-2025-05-14");
    headers_.set("content-type", "application/json");
  }

  // Builds the Vertex request for `body` (scanned here).
  UpstreamRequestPlan Build(std::string body, bool count_tokens = false,
                            std::string_view mapped = "claude-sonnet-4-5@20250929",
                            std::string_view target_path = "/v1/messages?beta=true") {
    body_ = std::move(body);
    auto info = http::ScanRequestBody(&body_);
    EXPECT_TRUE(info.ok()) << info.status();
    info_ = *info;
    ClientRequestView view{target_path, headers_,     info_,
                           body_,       count_tokens, auth::AuthMethod::kOpen};
    UpstreamTarget target;
    target.host_header = "us-east5-aiplatform.googleapis.com";
    target.path_prefix = "/v1";
    target.mapped_model = mapped;
    target.key = "ya29.token";
    target.region = "us-east5";
    target.project = "my-project";
    UpstreamRequestPlan plan;
    FindProvider("vertex")->BuildRequest(view, target, &plan);
    EXPECT_TRUE(plan.error.empty()) << plan.error;
    EXPECT_EQ(HeadValue(plan.head, "Content-Length"), std::to_string(SentBody(plan, body_).size()));
    return plan;
  }

  http::RequestFields headers_;
  std::string body_;
  http::RequestInfo info_;
};

TEST_F(VertexRequestTest, DefaultBaseUrlPerRegionForm) {
  EXPECT_EQ(VertexDefaultBaseUrl("global"), "https://aiplatform.googleapis.com/v1");
  EXPECT_EQ(VertexDefaultBaseUrl("us"), "https://aiplatform.us.rep.googleapis.com/v1");
  EXPECT_EQ(VertexDefaultBaseUrl("eu"), "https://aiplatform.eu.rep.googleapis.com/v1");
  EXPECT_EQ(VertexDefaultBaseUrl("us-east5"), "https://us-east5-aiplatform.googleapis.com/v1");
  EXPECT_EQ(VertexDefaultBaseUrl("europe-west1"),
            "https://europe-west1-aiplatform.googleapis.com/v1");
}

TEST_F(VertexRequestTest, ModelPathForEachRegionForm) {
  for (std::string_view region : {"global", "us", "eu", "us-east5"}) {
    std::string path;
    AppendVertexModelPath("/v1", "p-1", region, "claude-opus-4-1@20250805", &path);
    EXPECT_EQ(path, "/v1/projects/p-1/locations/" + std::string(region) +
                        "/publishers/anthropic/models/claude-opus-4-1@20250805");
  }
  std::string path;
  AppendVertexModelPath("", "p", "global", "a:b/c d", &path);
  EXPECT_EQ(path, "/projects/p/locations/global/publishers/anthropic/models/a%3Ab%2Fc%20d");
}

TEST_F(VertexRequestTest, MessagesReplaceTheModelMemberByTheVersionInPlace) {
  const UpstreamRequestPlan plan =
      Build(R"({"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]})");
  EXPECT_EQ(RequestLine(plan.head),
            "POST /v1/projects/my-project/locations/us-east5/publishers/anthropic/models/"
            "claude-sonnet-4-5@20250929:rawPredict HTTP/1.1");
  EXPECT_EQ(plan.body_kind, UpstreamRequestPlan::BodyKind::kSpliced);
  EXPECT_EQ(SentBody(plan, body_),
            R"({"anthropic_version":"vertex-2023-10-16","max_tokens":5,"messages":[]})");
  // One splice of static bytes: nothing allocated for it.
  ASSERT_EQ(plan.splices.size(), 1u);
  EXPECT_FALSE(plan.splices[0].fixed.empty());
}

TEST_F(VertexRequestTest, StreamGoesToStreamRawPredictAndStaysInTheBody) {
  const UpstreamRequestPlan plan =
      Build("{\n  \"max_tokens\": 5,\n  \"model\" : \"claude-sonnet-4-5\",\n  \"stream\": true\n}");
  EXPECT_THAT(RequestLine(plan.head), HasSubstr("@20250929:streamRawPredict HTTP/1.1"));
  EXPECT_EQ(SentBody(plan, body_),
            "{\n  \"max_tokens\": 5,\n  \"anthropic_version\":\"vertex-2023-10-16\",\n  "
            "\"stream\": true\n}");
}

TEST_F(VertexRequestTest, TheClientsVersionIsKeptAndTheModelRemovedWithItsComma) {
  const auto sent = [&](std::string body) {
    const UpstreamRequestPlan plan = Build(std::move(body));
    return SentBody(plan, body_);
  };
  // Model first: its comma after goes.
  EXPECT_EQ(sent(R"({"model":"m","anthropic_version":"v1","messages":[]})"),
            R"({"anthropic_version":"v1","messages":[]})");
  // Model last: the comma before goes.
  EXPECT_EQ(sent(R"({"anthropic_version":"v1", "messages":[] , "model":"m" })"),
            R"({"anthropic_version":"v1", "messages":[]  })");
  // In the middle, with spaces.
  EXPECT_EQ(sent(R"({"a":1, "model" : "m" , "anthropic_version":"v1"})"),
            R"({"a":1, "anthropic_version":"v1"})");
}

TEST_F(VertexRequestTest, CountTokensKeepsTheMappedModelInTheBody) {
  const UpstreamRequestPlan plan =
      Build(R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]})", true,
            "claude-sonnet-4-5@20250929", "/v1/messages/count_tokens?beta=true");
  EXPECT_EQ(RequestLine(plan.head),
            "POST /v1/projects/my-project/locations/us-east5/publishers/anthropic/models/"
            "count-tokens:rawPredict HTTP/1.1");
  EXPECT_EQ(SentBody(plan, body_),
            R"({"anthropic_version":"vertex-2023-10-16","model":"claude-sonnet-4-5@20250929",)"
            R"("messages":[{"role":"user","content":"hi"}]})");
  // Unmapped and with a version: unchanged.
  const UpstreamRequestPlan same =
      Build(R"({"anthropic_version":"x","model":"m","messages":[]})", true, "m");
  EXPECT_EQ(same.body_kind, UpstreamRequestPlan::BodyKind::kUnchanged);
}

TEST_F(VertexRequestTest, CacheControlScopeIsRemovedInTheSameCopy) {
  const UpstreamRequestPlan plan = Build(
      R"({"model":"m","system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral",)"
      R"("scope":"global"}}],"messages":[]})");
  EXPECT_EQ(plan.body_kind, UpstreamRequestPlan::BodyKind::kRewritten);
  EXPECT_EQ(SentBody(plan, body_),
            R"({"anthropic_version":"vertex-2023-10-16","system":[{"type":"text","text":"s",)"
            R"("cache_control":{"type":"ephemeral"}}],"messages":[]})");
  const UpstreamRequestPlan count = Build(
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"t",)"
      R"("cache_control":{"scope":"global","type":"ephemeral"}}]}]})",
      true, "m@1");
  EXPECT_EQ(SentBody(count, body_),
            R"({"anthropic_version":"vertex-2023-10-16","model":"m@1","messages":[{"role":"user",)"
            R"("content":[{"type":"text","text":"t","cache_control":{"type":"ephemeral"}}]}]})");
}

TEST_F(VertexRequestTest, BearerTokenOnlyAndFilteredBetasAsAHeader) {
  const UpstreamRequestPlan plan = Build(R"({"model":"m","messages":[]})");
  EXPECT_EQ(HeadValue(plan.head, "Authorization"), "Bearer ya29.token");
  EXPECT_EQ(HeadValue(plan.head, "Host"), "us-east5-aiplatform.googleapis.com");
  EXPECT_THAT(plan.head, Not(HasSubstr("client-key")));
  EXPECT_THAT(plan.head, Not(HasSubstr("client-token")));
  EXPECT_THAT(plan.head, Not(HasSubstr("x-api-key")));
  EXPECT_EQ(HeadValue(plan.head, "anthropic-beta"),
            "context-1m-2025-08-07,interleaved-thinking-2025-05-14");
  EXPECT_THAT(plan.head, Not(HasSubstr("claude-code-20250219")));
  ASSERT_EQ(plan.betas.dropped.size(), 1u);
  EXPECT_EQ(plan.betas.dropped.items()[0].name, "claude-code-20250219");
  // The query (?beta=true) is not sent.
  EXPECT_THAT(RequestLine(plan.head), Not(HasSubstr("beta=true")));
}

TEST_F(VertexRequestTest, ABetaPolicyOfTheProviderApplies) {
  BetaPolicy policy;
  policy.deny = {"context-1m-2025-08-07"};
  const auto filter = BetaFilter::ForProvider("vertex", policy);
  body_ = R"({"model":"m","messages":[]})";
  info_ = *http::ScanRequestBody(&body_);
  ClientRequestView view{"/v1/messages", headers_, info_, body_, false, auth::AuthMethod::kOpen};
  UpstreamTarget target;
  target.mapped_model = "m";
  target.betas = filter.get();
  UpstreamRequestPlan plan;
  FindProvider("vertex")->BuildRequest(view, target, &plan);
  EXPECT_EQ(HeadValue(plan.head, "anthropic-beta"), "interleaved-thinking-2025-05-14");
  EXPECT_EQ(plan.betas.dropped.Joined(), "claude-code-20250219,context-1m-2025-08-07");
}

TEST_F(VertexRequestTest, HealthCheckCountsTokensWithTheModel) {
  UpstreamTarget target;
  target.host_header = "aiplatform.googleapis.com";
  target.path_prefix = "/v1";
  target.key = "ya29.t";
  target.region = "global";
  target.project = "p";
  UpstreamRequestPlan plan;
  FindProvider("vertex")->BuildHealthCheck(target, "", &plan);
  EXPECT_EQ(RequestLine(plan.head),
            "POST /v1/projects/p/locations/global/publishers/anthropic/models/"
            "count-tokens:rawPredict HTTP/1.1");
  EXPECT_EQ(HeadValue(plan.head, "Authorization"), "Bearer ya29.t");
  EXPECT_EQ(plan.rewritten_body,
            R"({"anthropic_version":"vertex-2023-10-16","model":"claude-sonnet-4-5@20250929",)"
            R"("messages":[{"role":"user","content":"ping"}]})");
  EXPECT_EQ(HeadValue(plan.head, "Content-Length"), std::to_string(plan.rewritten_body.size()));
  UpstreamRequestPlan named;
  FindProvider("vertex")->BuildHealthCheck(target, "claude-haiku-4-5@20251001", &named);
  EXPECT_THAT(named.rewritten_body, HasSubstr(R"("model":"claude-haiku-4-5@20251001")"));
}

TEST_F(VertexRequestTest, DescribesTheType) {
  const Provider* p = FindProvider("vertex");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->OwnedBy(), "vertex-ai");
  EXPECT_TRUE(p->SupportsCountTokens());
  EXPECT_FALSE(p->SupportsPassthrough());
  EXPECT_FALSE(p->UsableWithoutKeys());
  EXPECT_TRUE(p->HealthCheckVerifiesKeys());
}

}  // namespace
}  // namespace ccrelay::providers
