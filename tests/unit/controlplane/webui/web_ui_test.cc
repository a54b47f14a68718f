#include "controlplane/webui/web_ui.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "proto/management.grpc.pb.h"

#include "controlplane/webui/json_bridge.h"
#include "controlplane/webui/web_assets.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/fake_clock.h"

namespace ccrelay::controlplane::webui {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A Management service with two tokens: "tok-admin-1" may change, "tok-viewer-1" only read;
// anything else (and no token) is UNAUTHENTICATED. WhoAmI names the role.
class FakeManagement final : public ccrelay::v1::Management::Service {
 public:
  std::string last_authorization;
  ccrelay::v1::SetProviderEnabledRequest last_set;

  grpc::Status WhoAmI(grpc::ServerContext* ctx, const ccrelay::v1::WhoAmIRequest*,
                      ccrelay::v1::WhoAmIResponse* out) override {
    const std::string role = Role(ctx);
    if (role.empty()) {
      return {grpc::StatusCode::UNAUTHENTICATED, "invalid token"};
    }
    out->set_role(role);
    return grpc::Status::OK;
  }
  grpc::Status ListProviders(grpc::ServerContext* ctx, const ccrelay::v1::ListProvidersRequest*,
                             ccrelay::v1::ListProvidersResponse* out) override {
    if (Role(ctx).empty()) {
      return {grpc::StatusCode::UNAUTHENTICATED, "invalid token"};
    }
    ccrelay::v1::ProviderInfo* p = out->add_providers();
    p->set_name("alpha");
    p->add_keys()->set_fingerprint("1a2b3c4d");
    out->set_snapshot_version(7);
    return grpc::Status::OK;
  }
  grpc::Status SetProviderEnabled(grpc::ServerContext* ctx,
                                  const ccrelay::v1::SetProviderEnabledRequest* req,
                                  ccrelay::v1::ProviderInfo* out) override {
    const std::string role = Role(ctx);
    if (role != "admin") {
      return {
          role.empty() ? grpc::StatusCode::UNAUTHENTICATED : grpc::StatusCode::PERMISSION_DENIED,
          "read-only token"};
    }
    last_set = *req;
    out->set_name(req->name());
    out->set_enabled(req->enabled());
    return grpc::Status::OK;
  }

 private:
  std::string Role(grpc::ServerContext* ctx) {
    auto it = ctx->client_metadata().find("authorization");
    last_authorization = it == ctx->client_metadata().end()
                             ? std::string()
                             : std::string(it->second.data(), it->second.size());
    if (last_authorization == "Bearer tok-admin-1") {
      return "admin";
    }
    if (last_authorization == "Bearer tok-viewer-1") {
      return "read-only";
    }
    return "";
  }
};

class Responder final : public HttpResponder {
 public:
  std::string out;
  bool Send(std::string_view bytes) override {
    out.append(bytes);
    return true;
  }
  bool Closed() override { return true; }
};

class WebUiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
    WebUi::Deps deps;
    deps.channel = [this] { return channel_; };
    deps.clock = &clock_;
    ui_ = std::make_unique<WebUi>(std::move(deps));
  }
  void TearDown() override { server_->Shutdown(); }

  std::string Call(const std::string& method, const std::string& path, const std::string& body = "",
                   std::vector<std::pair<std::string, std::string>> headers = {},
                   bool loopback = true) {
    HttpRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.loopback = loopback;
    req.tls = tls_;
    req.peer = peer_;
    req.headers = std::move(headers);
    req.headers.emplace_back("host", host_);
    Responder r;
    EXPECT_TRUE(ui_->Handle(req, r));
    return r.out;
  }
  // Logs in; sets cookie_ ("ccr_session=...") and csrf_.
  std::string Login(const std::string& token) {
    const std::string out = Call("POST", "/ui/login", nlohmann::json{{"token", token}}.dump());
    const size_t c = out.find("set-cookie: ");
    if (c != std::string::npos) {
      const size_t semi = out.find(';', c);
      cookie_ = out.substr(c + 12, semi - c - 12);
      csrf_ = nlohmann::json::parse(out.substr(out.find("\r\n\r\n") + 4))["csrf"];
    }
    return out;
  }

  FakeManagement service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  testing::FakeClock clock_;
  std::unique_ptr<WebUi> ui_;
  std::string cookie_;
  std::string csrf_;
  // The listener has TLS; the client's IP; the Host header.
  bool tls_ = false;
  std::string peer_ = "127.0.0.1";
  std::string host_ = "127.0.0.1:8789";
};

TEST(JsonBridgeTest, StatusMapping) {
  EXPECT_EQ(HttpStatusForGrpc(0), 200);
  EXPECT_EQ(HttpStatusForGrpc(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT)), 400);
  EXPECT_EQ(HttpStatusForGrpc(static_cast<int>(grpc::StatusCode::UNAUTHENTICATED)), 401);
  EXPECT_EQ(HttpStatusForGrpc(static_cast<int>(grpc::StatusCode::PERMISSION_DENIED)), 403);
  EXPECT_EQ(HttpStatusForGrpc(static_cast<int>(grpc::StatusCode::NOT_FOUND)), 404);
  EXPECT_EQ(HttpStatusForGrpc(static_cast<int>(grpc::StatusCode::UNAVAILABLE)), 503);
  EXPECT_EQ(ErrorJson("NOT_FOUND", "a \"b\""),
            R"({"error":{"code":"NOT_FOUND","message":"a \"b\""}})");
}

TEST_F(WebUiTest, BridgeParsesJsonCallsWithTheTokenAndAnswersJson) {
  JsonReply r = CallManagementJson(channel_, "SetProviderEnabled",
                                   R"({"name":"alpha","enabled":true})", "tok-admin-1");
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(service_.last_authorization, "Bearer tok-admin-1");
  EXPECT_EQ(service_.last_set.name(), "alpha");
  EXPECT_TRUE(service_.last_set.enabled());
  // Proto field names, primitive fields always printed, 64-bit integers as strings.
  r = CallManagementJson(channel_, "ListProviders", "", "tok-viewer-1");
  EXPECT_EQ(r.http_status, 200);
  EXPECT_THAT(r.json, HasSubstr(R"("snapshot_version":"7")"));
  EXPECT_THAT(r.json, HasSubstr(R"("fingerprint":"1a2b3c4d")"));
  EXPECT_THAT(r.json, HasSubstr(R"("base_url":"")"));
}

TEST_F(WebUiTest, BridgeErrors) {
  JsonReply r =
      CallManagementJson(channel_, "SetProviderEnabled", R"({"name":"a"})", "tok-viewer-1");
  EXPECT_EQ(r.http_status, 403);
  EXPECT_EQ(r.json, R"({"error":{"code":"PERMISSION_DENIED","message":"read-only token"}})");
  r = CallManagementJson(channel_, "ListProviders", "{}", "");
  EXPECT_EQ(r.http_status, 401);
  EXPECT_EQ(service_.last_authorization, "");  // no token, no metadata
  r = CallManagementJson(channel_, "NoSuchMethod", "{}", "tok-admin-1");
  EXPECT_EQ(r.http_status, 404);
  r = CallManagementJson(channel_, "WatchStats", "{}", "tok-admin-1");  // streaming: not bridged
  EXPECT_EQ(r.http_status, 404);
  r = CallManagementJson(channel_, "SetProviderEnabled", R"({"nmae":"a"})", "tok-admin-1");
  EXPECT_EQ(r.http_status, 400);
  r = CallManagementJson(channel_, "SetProviderEnabled", "not json", "tok-admin-1");
  EXPECT_EQ(r.http_status, 400);
  r = CallManagementJson(channel_, "GetUsage", "{}", "tok-admin-1");  // not implemented by the fake
  EXPECT_EQ(r.http_status, 501);
  r = CallManagementJson(nullptr, "ListProviders", "{}", "tok-admin-1");
  EXPECT_EQ(r.http_status, 503);
}

TEST_F(WebUiTest, AssetsAreEmbeddedWithStrictHeaders) {
  ASSERT_NE(FindWebAsset("index.html"), nullptr);
  ASSERT_NE(FindWebAsset("app.js"), nullptr);
  ASSERT_NE(FindWebAsset("app.css"), nullptr);
  EXPECT_EQ(FindWebAsset("nope.js"), nullptr);
  EXPECT_THAT(FindWebAsset("index.html")->body, HasSubstr("<script src=\"app.js\""));
  EXPECT_THAT(FindWebAsset("index.html")->body, Not(HasSubstr("<script>")));
  EXPECT_THAT(FindWebAsset("index.html")->body, Not(HasSubstr("style=")));
  const std::string out = Call("GET", "/ui/");
  EXPECT_THAT(out, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(out, HasSubstr("content-type: text/html; charset=utf-8\r\n"));
  EXPECT_THAT(
      out, HasSubstr(
               "content-security-policy: default-src 'self'; script-src 'self'; style-src 'self'; "
               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
               "form-action 'self'\r\n"));
  EXPECT_THAT(out, HasSubstr("x-content-type-options: nosniff\r\n"));
  EXPECT_THAT(out, HasSubstr("referrer-policy: no-referrer\r\n"));
  EXPECT_THAT(out, HasSubstr("cache-control: no-store\r\n"));
  EXPECT_THAT(Call("GET", "/ui/app.js"), HasSubstr("content-type: text/javascript"));
  EXPECT_THAT(Call("GET", "/ui/missing"), HasSubstr("404 Not Found"));
  EXPECT_THAT(Call("GET", "/ui"), HasSubstr("location: /ui/\r\n"));
  HttpRequest other;
  other.path = "/metrics";
  Responder r;
  EXPECT_FALSE(ui_->Handle(other, r));
}

TEST_F(WebUiTest, OnlyLoopback) {
  EXPECT_THAT(Call("GET", "/ui/", "", {}, /*loopback=*/false), HasSubstr("403 Forbidden"));
  HttpRequest req;
  req.method = "GET";
  req.path = "/ui/";
  req.loopback = true;
  req.headers = {{"host", "relay.example.com:8789"}};
  Responder r;
  ui_->Handle(req, r);
  EXPECT_THAT(r.out, HasSubstr("403 Forbidden"));
  EXPECT_TRUE(WebUi::LoopbackHost("127.0.0.1:8789"));
  EXPECT_TRUE(WebUi::LoopbackHost("127.1.2.3"));
  EXPECT_TRUE(WebUi::LoopbackHost("localhost:1"));
  EXPECT_TRUE(WebUi::LoopbackHost("[::1]:8789"));
  EXPECT_FALSE(WebUi::LoopbackHost("10.0.0.1:8789"));
  EXPECT_FALSE(WebUi::LoopbackHost("127.0.0.1.evil.example"));
  EXPECT_FALSE(WebUi::LoopbackHost("[::2]:1"));
  EXPECT_FALSE(WebUi::LoopbackHost(""));
}

TEST_F(WebUiTest, LoginSetsAStrictCookieAndReturnsTheCsrfToken) {
  EXPECT_THAT(Login("wrong"), HasSubstr("401 Unauthorized"));
  EXPECT_TRUE(cookie_.empty());
  const std::string out = Login("tok-admin-1");
  EXPECT_THAT(out, HasSubstr("200 OK"));
  EXPECT_THAT(out, HasSubstr("; HttpOnly; SameSite=Strict; Path=/ui\r\n"));
  EXPECT_THAT(out, Not(HasSubstr("tok-admin-1")));  // the body names the role, never the token
  EXPECT_EQ(cookie_.size(), std::string("ccr_session=").size() + 64);
  EXPECT_EQ(csrf_.size(), 64u);
  EXPECT_THAT(Call("GET", "/ui/session", "", {{"cookie", cookie_}}),
              HasSubstr(R"("role":"admin")"));
}

TEST_F(WebUiTest, ApiNeedsTheSessionAndItsCsrfToken) {
  Login("tok-admin-1");
  const std::string body = R"({"name":"alpha","enabled":false})";
  EXPECT_THAT(Call("POST", "/ui/api/SetProviderEnabled", body), HasSubstr("401 Unauthorized"));
  EXPECT_THAT(Call("POST", "/ui/api/SetProviderEnabled", body, {{"cookie", cookie_}}),
              HasSubstr("403 Forbidden"));
  EXPECT_THAT(Call("POST", "/ui/api/SetProviderEnabled", body,
                   {{"cookie", cookie_}, {"x-csrf-token", csrf_ + "0"}}),
              HasSubstr("403 Forbidden"));
  EXPECT_THAT(Call("POST", "/ui/api/SetProviderEnabled", body,
                   {{"cookie", cookie_}, {"x-csrf-token", csrf_}, {"origin", "http://evil"}}),
              HasSubstr("403 Forbidden"));
  EXPECT_TRUE(service_.last_set.name().empty());
  const std::string ok =
      Call("POST", "/ui/api/SetProviderEnabled", body,
           {{"cookie", cookie_}, {"x-csrf-token", csrf_}, {"origin", "http://127.0.0.1:8789"}});
  EXPECT_THAT(ok, HasSubstr("200 OK"));
  EXPECT_THAT(ok, HasSubstr(R"("name":"alpha")"));
  EXPECT_EQ(service_.last_authorization, "Bearer tok-admin-1");
  // Logout ends the session.
  EXPECT_THAT(Call("POST", "/ui/logout", "", {{"cookie", cookie_}, {"x-csrf-token", csrf_}}),
              HasSubstr("Max-Age=0"));
  EXPECT_THAT(
      Call("POST", "/ui/api/ListProviders", "{}", {{"cookie", cookie_}, {"x-csrf-token", csrf_}}),
      HasSubstr("401 Unauthorized"));
}

TEST_F(WebUiTest, AReadOnlySessionCannotChange) {
  EXPECT_THAT(Login("tok-viewer-1"), HasSubstr(R"("role":"read-only")"));
  const std::vector<std::pair<std::string, std::string>> h = {{"cookie", cookie_},
                                                              {"x-csrf-token", csrf_}};
  EXPECT_THAT(Call("POST", "/ui/api/ListProviders", "{}", h), HasSubstr("200 OK"));
  const std::string denied = Call("POST", "/ui/api/SetProviderEnabled", R"({"name":"alpha"})", h);
  EXPECT_THAT(denied, HasSubstr("403 Forbidden"));
  EXPECT_THAT(denied, HasSubstr("PERMISSION_DENIED"));
}

TEST_F(WebUiTest, SessionsExpire) {
  Login("tok-admin-1");
  clock_.Advance(SessionStore::kLifetime);
  EXPECT_THAT(
      Call("POST", "/ui/api/ListProviders", "{}", {{"cookie", cookie_}, {"x-csrf-token", csrf_}}),
      HasSubstr("401 Unauthorized"));
}

TEST_F(WebUiTest, OverTlsAnyAddressAndHostWithASecureCookie) {
  tls_ = true;
  host_ = "relay.example.com:8789";
  EXPECT_THAT(Call("GET", "/ui/", "", {}, /*loopback=*/false), HasSubstr("200 OK"));
  const std::string out = Login("tok-admin-1");
  EXPECT_THAT(out, HasSubstr("; HttpOnly; SameSite=Strict; Path=/ui; Secure\r\n"));
  const std::string body = R"({"name":"alpha","enabled":true})";
  // The origin of an HTTPS page is https://host; the plaintext one is another site.
  EXPECT_THAT(Call("POST", "/ui/api/SetProviderEnabled", body,
                   {{"cookie", cookie_},
                    {"x-csrf-token", csrf_},
                    {"origin", "http://relay.example.com:8789"}},
                   false),
              HasSubstr("403 Forbidden"));
  EXPECT_THAT(Call("POST", "/ui/api/SetProviderEnabled", body,
                   {{"cookie", cookie_},
                    {"x-csrf-token", csrf_},
                    {"origin", "https://relay.example.com:8789"}},
                   false),
              HasSubstr("200 OK"));
  EXPECT_THAT(Call("POST", "/ui/logout", "", {{"cookie", cookie_}, {"x-csrf-token", csrf_}}, false),
              HasSubstr("; Secure; Max-Age=0\r\n"));
  // Without TLS the same request is refused, and says how to fix it.
  tls_ = false;
  const std::string refused = Call("GET", "/ui/", "", {}, /*loopback=*/false);
  EXPECT_THAT(refused, HasSubstr("403 Forbidden"));
  EXPECT_THAT(refused, HasSubstr("--http-tls-cert"));
  // ...and a plaintext loopback login has no Secure cookie.
  host_ = "127.0.0.1:8789";
  EXPECT_THAT(Login("tok-admin-1"), Not(HasSubstr("Secure")));
}

TEST_F(WebUiTest, FailedLoginsAreRateLimitedPerClientIp) {
  peer_ = "192.0.2.7";
  for (size_t i = 0; i < LoginLimiter::kMaxFailures; ++i) {
    EXPECT_THAT(Login("wrong"), HasSubstr("401 Unauthorized")) << i;
  }
  // The 11th try within the minute waits, even with the right token.
  std::string limited = Login("tok-admin-1");
  EXPECT_THAT(limited, HasSubstr("429 Too Many Requests"));
  EXPECT_THAT(limited, HasSubstr("retry-after: 60\r\n"));
  EXPECT_THAT(limited, HasSubstr("RESOURCE_EXHAUSTED"));
  clock_.Advance(std::chrono::seconds(30));
  EXPECT_THAT(Login("wrong"), HasSubstr("retry-after: 30\r\n"));
  // Another client is not affected; successful logins do not count.
  peer_ = "192.0.2.8";
  for (size_t i = 0; i < 2 * LoginLimiter::kMaxFailures; ++i) {
    EXPECT_THAT(Login("tok-admin-1"), HasSubstr("200 OK")) << i;
  }
  // A minute after the first failures, the first IP may try again.
  peer_ = "192.0.2.7";
  clock_.Advance(std::chrono::seconds(30));
  EXPECT_THAT(Login("tok-admin-1"), HasSubstr("200 OK"));
}

TEST(LoginLimiterTest, SlidingWindowAndBoundedTable) {
  testing::FakeClock clock;
  LoginLimiter limiter(&clock);
  for (size_t i = 0; i < LoginLimiter::kMaxFailures; ++i) {
    EXPECT_EQ(limiter.RetryAfterSeconds("a"), 0);
    limiter.RecordFailure("a");
    clock.Advance(std::chrono::seconds(5));  // failures at 0, 5, ..., 45 s
  }
  EXPECT_EQ(limiter.RetryAfterSeconds("a"), 10);  // now 50 s: the first leaves at 60 s
  clock.Advance(std::chrono::seconds(10));
  EXPECT_EQ(limiter.RetryAfterSeconds("a"), 0);
  limiter.RecordFailure("a");  // at 60 s: the one at 5 s is now the oldest of the last ten
  EXPECT_EQ(limiter.RetryAfterSeconds("a"), 5);
  // At most kMaxClients IPs: the one whose last failure is oldest goes first.
  for (size_t i = 0; i < LoginLimiter::kMaxClients + 10; ++i) {
    clock.Advance(std::chrono::milliseconds(1));
    limiter.RecordFailure("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  }
  EXPECT_EQ(limiter.clients(), LoginLimiter::kMaxClients);
  EXPECT_EQ(limiter.RetryAfterSeconds("a"), 0);  // evicted
}

TEST_F(WebUiTest, HeadOnAnAssetHasTheRealLength) {
  const std::string get = Call("GET", "/ui/app.js");
  const std::string head = Call("HEAD", "/ui/app.js");
  const size_t end = get.find("\r\n\r\n") + 4;
  EXPECT_EQ(head, get.substr(0, end));
  EXPECT_THAT(
      head,
      HasSubstr("content-length: " + std::to_string(FindWebAsset("app.js")->body.size()) + "\r\n"));
  EXPECT_GT(FindWebAsset("app.js")->body.size(), 0u);
}

}  // namespace
}  // namespace ccrelay::controlplane::webui
