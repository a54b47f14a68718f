#include "controlplane/credentials/azure_entra_token.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controlplane/credentials/azure_managed_identity.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_upstream.h"

namespace ccrelay::controlplane::azure {
namespace {

using ::ccrelay::testing::FakeClock;
using ::ccrelay::testing::FakeUpstream;
using ::ccrelay::testing::JsonScript;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(AzureTenantIdTest, AcceptsGuidsAndDomainNames) {
  EXPECT_TRUE(CheckTenantId("72f988bf-86f1-41af-91ab-2d7cd011db47", "AZURE_TENANT_ID").ok());
  EXPECT_TRUE(CheckTenantId("contoso.onmicrosoft.com", "AZURE_TENANT_ID").ok());
  EXPECT_TRUE(CheckTenantId("organizations", "AZURE_TENANT_ID").ok());
}

TEST(AzureTenantIdTest, RefusesWhatWouldChangeTheUrl) {
  for (const std::string& bad :
       std::vector<std::string>{"", "a/b", "../admin", "..", ".", "t?x=1", "t#x", "t x", "t%2Fx",
                                "tenant\nx", std::string(257, 'a')}) {
    const absl::Status s = CheckTenantId(bad, "azure_tenant_id");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(s), HasSubstr("azure_tenant_id")) << bad;
    EXPECT_THAT(Message(s), Not(HasSubstr("\n")));
  }
}

TEST(AzureAuthorityHostTest, AddsHttpsAndDropsTheTrailingSlash) {
  EXPECT_EQ(NormalizeAuthorityHost("login.microsoftonline.us", "x").value(),
            "https://login.microsoftonline.us");
  EXPECT_EQ(NormalizeAuthorityHost("https://login.chinacloudapi.cn/", "x").value(),
            "https://login.chinacloudapi.cn");
  EXPECT_EQ(NormalizeAuthorityHost("http://127.0.0.1:8080", "x").value(), "http://127.0.0.1:8080");
  EXPECT_EQ(NormalizeAuthorityHost("http://localhost:1/prefix/", "x").value(),
            "http://localhost:1/prefix");
}

TEST(AzureAuthorityHostTest, RefusesPlainHttpToAnotherHost) {
  auto out = NormalizeAuthorityHost("http://login.example.com", "AZURE_AUTHORITY_HOST");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(out.status()), HasSubstr("AZURE_AUTHORITY_HOST"));
  EXPECT_THAT(Message(out.status()), HasSubstr("https://"));
  EXPECT_FALSE(NormalizeAuthorityHost("", "x").ok());
  EXPECT_FALSE(NormalizeAuthorityHost("https://user@host", "x").ok());
}

TEST(AzureScopeTest, ResourceIsTheScopeWithoutDefault) {
  EXPECT_EQ(ScopeToResource("https://ai.azure.com/.default"), "https://ai.azure.com");
  EXPECT_EQ(ScopeToResource("https://cognitiveservices.azure.com/.default"),
            "https://cognitiveservices.azure.com");
  EXPECT_EQ(ScopeToResource("https://ai.azure.com"), "https://ai.azure.com");
  EXPECT_TRUE(CheckScope("https://ai.azure.com/.default", "azure_scope").ok());
  EXPECT_FALSE(CheckScope("", "azure_scope").ok());
  EXPECT_FALSE(CheckScope("a/.default b/.default", "azure_scope").ok());
}

TEST(AzureRefusalMessageTest, KeepsEntrasCodeOnOneLine) {
  const std::string body =
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret )"
      R"(provided.\r\nTrace ID: 1\r\nCorrelation ID: 2","error_codes":[7000215]})";
  const std::string m = RefusalMessage("token endpoint http://h/t/oauth2/v2.0/token", 401, body);
  EXPECT_THAT(m, HasSubstr("token endpoint http://h/t/oauth2/v2.0/token: HTTP 401"));
  EXPECT_THAT(m, HasSubstr("invalid_client: AADSTS7000215: Invalid client secret provided."));
  EXPECT_THAT(m, Not(HasSubstr("\r")));
  EXPECT_THAT(m, Not(HasSubstr("\n")));
  EXPECT_EQ(RefusalMessage("w", 502, "<html>bad gateway</html>"), "w: HTTP 502");
}

ClientCredentialsRequest SecretRequest(const FakeUpstream& fake) {
  ClientCredentialsRequest r;
  r.authority = fake.base_url();
  r.tenant_id = "tenant-1";
  r.client_id = "app-1";
  r.client_secret = common::Secret("s3cret/+&=");
  r.scope = std::string(kDefaultScope);
  return r;
}

TEST(AzureClientCredentialsTest, PostsTheFormAndDatesTheExpiry) {
  FakeUpstream fake;
  fake.SetHandler(JsonScript(
      200,
      R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"at1"})"));
  const FakeClock clock;
  auto token = RequestClientCredentialsToken(SecretRequest(fake), clock);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token.Reveal(), "at1");
  EXPECT_EQ(token->expires_unix_ms, FakeClock::kStartUnixMs + 3599 * 1000);
  ASSERT_EQ(fake.request_count(), 1u);
  const auto request = fake.requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/tenant-1/oauth2/v2.0/token");
  EXPECT_EQ(request.Header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(request.body,
            "grant_type=client_credentials&client_id=app-1"
            "&scope=https%3A%2F%2Fai.azure.com%2F.default&client_secret=s3cret%2F%2B%26%3D");
}

TEST(AzureClientCredentialsTest, SendsAnAssertionInsteadOfASecret) {
  FakeUpstream fake;
  fake.SetHandler(JsonScript(200, R"({"token_type":"Bearer","expires_in":60,"access_token":"a"})"));
  ClientCredentialsRequest r = SecretRequest(fake);
  r.client_secret = common::Secret();
  r.client_assertion = common::Secret("eyJhbGciOi.payload.sig");
  ASSERT_TRUE(RequestClientCredentialsToken(r, FakeClock()).ok());
  EXPECT_EQ(
      fake.requests()[0].body,
      "grant_type=client_credentials&client_id=app-1"
      "&scope=https%3A%2F%2Fai.azure.com%2F.default"
      "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
      "&client_assertion=eyJhbGciOi.payload.sig");
  // Both, or neither, is a caller's mistake: nothing is sent.
  r.client_secret = common::Secret("s");
  EXPECT_EQ(RequestClientCredentialsToken(r, FakeClock()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fake.request_count(), 1u);
}

TEST(AzureClientCredentialsTest, EntraRefusalsArePermissionDeniedWithoutTheSecret) {
  FakeUpstream fake;
  // A careless server echoing the secret: the message carries its fingerprint only.
  fake.SetHandler(JsonScript(
      401, R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client )"
           R"(secret provided: s3cret/+&=\r\nTrace ID: x"})"));
  auto token = RequestClientCredentialsToken(SecretRequest(fake), FakeClock());
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied);
  const std::string m = Message(token.status());
  EXPECT_THAT(m, HasSubstr("token endpoint " + fake.base_url() + "/tenant-1/oauth2/v2.0/token"));
  EXPECT_THAT(m, HasSubstr("HTTP 401: invalid_client: AADSTS7000215"));
  EXPECT_THAT(m, Not(HasSubstr("s3cret")));
  EXPECT_THAT(m, HasSubstr("<redacted:" + common::FingerprintOf("s3cret/+&=") + ">"));
}

TEST(AzureClientCredentialsTest, ServerErrorsAndThrottlingAreUnavailable) {
  FakeUpstream fake;
  fake.EnqueueHandler(JsonScript(503, R"({"error":"temporarily_unavailable"})"));
  fake.EnqueueHandler(JsonScript(429, "too many"));
  fake.EnqueueHandler(JsonScript(200, R"({"token_type":"Bearer","expires_in":60})"));
  auto a = RequestClientCredentialsToken(SecretRequest(fake), FakeClock());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(a.status()), HasSubstr("HTTP 503: temporarily_unavailable"));
  auto b = RequestClientCredentialsToken(SecretRequest(fake), FakeClock());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(b.status()), HasSubstr("HTTP 429"));
  auto c = RequestClientCredentialsToken(SecretRequest(fake), FakeClock());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(c.status()), HasSubstr("no access_token"));
}

TEST(AzureClientCredentialsTest, NoConnectionNamesTheEndpoint) {
  ClientCredentialsRequest r;
  r.authority = "http://127.0.0.1:" + std::to_string(::ccrelay::testing::UnusedPort());
  r.tenant_id = "t";
  r.client_id = "c";
  r.client_secret = common::Secret("never-shown");
  r.scope = "s/.default";
  auto token = RequestClientCredentialsToken(r, FakeClock());
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Message(token.status()), HasSubstr(r.authority + "/t/oauth2/v2.0/token"));
  EXPECT_THAT(Message(token.status()), Not(HasSubstr("never-shown")));
}

ManagedIdentityRequest ImdsRequest(const FakeUpstream& fake) {
  ManagedIdentityRequest r;
  r.imds_endpoint = fake.base_url() + "/";
  r.resource = "https://ai.azure.com";
  return r;
}

TEST(AzureManagedIdentityTest, AsksImdsWithTheMetadataHeader) {
  FakeUpstream fake;
  fake.SetHandler(JsonScript(
      200,
      R"({"access_token":"mi1","client_id":"x","expires_in":"3599",)"
      R"("expires_on":"1800003600","resource":"https://ai.azure.com","token_type":"Bearer"})"));
  ManagedIdentityRequest r = ImdsRequest(fake);
  auto token = RequestManagedIdentityToken(r, FakeClock());
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token.Reveal(), "mi1");
  EXPECT_EQ(token->expires_unix_ms, int64_t{1800003600} * 1000);  // expires_on wins
  r.client_id = "user-assigned-1";
  ASSERT_TRUE(RequestManagedIdentityToken(r, FakeClock()).ok());
  const auto requests = fake.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target,
            "/metadata/identity/oauth2/token?api-version=2018-02-01"
            "&resource=https%3A%2F%2Fai.azure.com");
  EXPECT_EQ(requests[0].Header("metadata"), "true");
  EXPECT_EQ(requests[1].target,
            "/metadata/identity/oauth2/token?api-version=2018-02-01"
            "&resource=https%3A%2F%2Fai.azure.com&client_id=user-assigned-1");
}

TEST(AzureManagedIdentityTest, NoIdentityOrNoServiceIsNotFound) {
  FakeUpstream fake;
  fake.SetHandler(
      JsonScript(400, R"({"error":"invalid_request","error_description":"Identity not found"})"));
  ManagedIdentityRequest r = ImdsRequest(fake);
  r.client_id = "ua-9";
  auto token = RequestManagedIdentityToken(r, FakeClock());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(token.status()), HasSubstr("HTTP 400: invalid_request: Identity not found"));
  EXPECT_THAT(Message(token.status()), HasSubstr("ua-9"));

  r.imds_endpoint = "http://127.0.0.1:" + std::to_string(::ccrelay::testing::UnusedPort());
  token = RequestManagedIdentityToken(r, FakeClock());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(token.status()), HasSubstr("IMDS unreachable"));
  EXPECT_THAT(Message(token.status()), HasSubstr(r.imds_endpoint));
}

TEST(AzureManagedIdentityTest, OtherRefusalsAreErrors) {
  FakeUpstream fake;
  fake.EnqueueHandler(JsonScript(500, R"({"error":"unknown","error_description":"busy"})"));
  fake.EnqueueHandler(JsonScript(403, "{}"));
  fake.EnqueueHandler(JsonScript(200, "not json"));
  EXPECT_EQ(RequestManagedIdentityToken(ImdsRequest(fake), FakeClock()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(RequestManagedIdentityToken(ImdsRequest(fake), FakeClock()).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(RequestManagedIdentityToken(ImdsRequest(fake), FakeClock()).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ccrelay::controlplane::azure
