#include "controlplane/webui/web_ui.h"

#include <arpa/inet.h>

#include "proto/management.grpc.pb.h"

#include "controlplane/webui/json_bridge.h"
#include "controlplane/webui/web_assets.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "nlohmann/json.hpp"

namespace ccrelay::controlplane::webui {
namespace {

using common::StrCat;

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kApiPrefix = "/ui/api/";

std::string_view StatusLine(int code) {
  switch (code) {
    case 200:
      return "200 OK";
    case 400:
      return "400 Bad Request";
    case 401:
      return "401 Unauthorized";
    case 403:
      return "403 Forbidden";
    case 404:
      return "404 Not Found";
    case 405:
      return "405 Method Not Allowed";
    case 409:
      return "409 Conflict";
    case 429:
      return "429 Too Many Requests";
    case 501:
      return "501 Not Implemented";
    case 502:
      return "502 Bad Gateway";
    case 503:
      return "503 Service Unavailable";
    case 504:
      return "504 Gateway Timeout";
    default:
      return "500 Internal Server Error";
  }
}

std::string JsonError(int code, std::string_view name, std::string_view message) {
  return WebUi::Response(StatusLine(code), kJson, ErrorJson(name, message));
}

// A POST from another site: its Origin (or Sec-Fetch-Site) says so. (SameSite=Strict keeps the
// cookie off such requests too; this answers them before anything else.)
bool CrossSite(const HttpRequest& req) {
  const std::string_view origin = req.Header("origin");
  if (!origin.empty() && origin != StrCat(req.tls ? "https://" : "http://", req.Header("host"))) {
    return true;
  }
  const std::string_view site = req.Header("sec-fetch-site");
  return !site.empty() && site != "same-origin" && site != "none";
}

// `Secure` over TLS: the browser then never sends the cookie in clear.
std::string CookieHeader(std::string_view value, bool clear, bool tls) {
  return StrCat("set-cookie: ", WebUi::kCookie, "=", value, "; HttpOnly; SameSite=Strict; Path=/ui",
                tls ? "; Secure" : "", clear ? "; Max-Age=0" : "", "\r\n");
}

}  // namespace

WebUi::WebUi(Deps deps)
    : deps_(std::move(deps)), sessions_(deps_.clock), login_limiter_(deps_.clock) {}

std::string WebUi::SecurityHeaders() {
  return StrCat("content-security-policy: ", kContentSecurityPolicy,
                "\r\nx-content-type-options: nosniff\r\nreferrer-policy: no-referrer\r\n"
                "x-frame-options: DENY\r\ncross-origin-opener-policy: same-origin\r\n"
                "cross-origin-resource-policy: same-origin\r\ncache-control: no-store\r\n");
}

std::string WebUi::Response(std::string_view status, std::string_view content_type,
                            std::string_view body, std::string_view extra) {
  return StrCat("HTTP/1.1 ", status, "\r\ncontent-type: ", content_type,
                "\r\ncontent-length: ", static_cast<uint64_t>(body.size()),
                "\r\nconnection: close\r\n", SecurityHeaders(), extra, "\r\n", body);
}

bool WebUi::LoopbackHost(std::string_view host) {
  std::string_view name = host;
  if (common::ConsumePrefix(&name, "[")) {
    const size_t close = name.find(']');
    if (close == std::string_view::npos) {
      return false;
    }
    const std::string v6(name.substr(0, close));
    in6_addr a{};
    return inet_pton(AF_INET6, v6.c_str(), &a) == 1 && IN6_IS_ADDR_LOOPBACK(&a);
  }
  if (const size_t colon = name.find(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  if (common::EqualsIgnoreCase(name, "localhost")) {
    return true;
  }
  const std::string v4(name);
  in_addr a{};
  return inet_pton(AF_INET, v4.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

bool WebUi::Handle(const HttpRequest& req, HttpResponder& out) {
  const std::string_view path = req.path;
  if (path != "/ui" && !path.starts_with("/ui/")) {
    return false;
  }
  // Without TLS, loopback only, and a loopback Host (a DNS-rebinding page names its own host).
  // Over TLS any address and any Host: the cookie is Secure and SameSite=Strict, and every
  // change carries the CSRF token.
  if (!req.tls && (!req.loopback || !LoopbackHost(req.Header("host")))) {
    out.Send(Response("403 Forbidden", kText,
                      "The cc-relay web dashboard serves only on loopback (127.0.0.1, [::1], "
                      "localhost) while this listener has no TLS: a session cookie must not cross "
                      "a network in clear. Give the control plane --http-tls-cert and "
                      "--http-tls-key to serve it over HTTPS on any address, or tunnel to it, e.g. "
                      "ssh -L 8789:127.0.0.1:8789 <relay host>, then open "
                      "http://127.0.0.1:8789/ui/\n"));
    return true;
  }
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  if (path == "/ui") {
    out.Send(Response("308 Permanent Redirect", kText, "", "location: /ui/\r\n"));
    return true;
  }
  const std::optional<Session> session = sessions_.Find(CookieValue(req.Header("cookie"), kCookie));
  if (!path.starts_with(kApiPrefix) && path != "/ui/login" && path != "/ui/logout" &&
      path != "/ui/session") {
    std::string_view name = path.substr(4);
    if (name.empty()) {
      name = "index.html";
    }
    const WebAsset* asset = FindWebAsset(name);
    if (asset == nullptr) {
      out.Send(Response("404 Not Found", kText, "not found\n"));
    } else if (!get) {
      out.Send(Response("405 Method Not Allowed", kText, "method not allowed\n",
                        "allow: GET, HEAD\r\n"));
    } else {
      std::string response = Response("200 OK", asset->content_type, asset->body);
      if (req.method == "HEAD") {
        response.resize(response.find("\r\n\r\n") + 4);  // the GET's headers, length included
      }
      out.Send(response);
    }
    return true;
  }
  if (post && CrossSite(req)) {
    out.Send(JsonError(403, "PERMISSION_DENIED", "cross-site request refused"));
    return true;
  }
  if (path == "/ui/login") {
    out.Send(post ? Login(req) : JsonError(405, "UNIMPLEMENTED", "POST only"));
    return true;
  }
  if (!session.has_value()) {
    out.Send(JsonError(401, "UNAUTHENTICATED", "not logged in"));
    return true;
  }
  if (path == "/ui/session" && get) {
    nlohmann::json j{{"role", session->role}, {"csrf", session->csrf}};
    out.Send(Response("200 OK", kJson, j.dump()));
    return true;
  }
  if (path == StrCat(kApiPrefix, "events") && get) {
    Events(*session, out);
    return true;
  }
  if (!post) {
    out.Send(JsonError(405, "UNIMPLEMENTED", "POST only"));
    return true;
  }
  // Every POST of a session carries its CSRF token.
  if (!common::ConstantTimeEquals(req.Header("x-csrf-token"), session->csrf)) {
    out.Send(JsonError(403, "PERMISSION_DENIED", "missing or wrong x-csrf-token"));
    return true;
  }
  if (path == "/ui/logout") {
    sessions_.Remove(CookieValue(req.Header("cookie"), kCookie));
    out.Send(Response("200 OK", kJson, "{}", CookieHeader("", true, req.tls)));
    return true;
  }
  if (path.starts_with(kApiPrefix)) {
    out.Send(Api(req, *session, path.substr(kApiPrefix.size())));
    return true;
  }
  out.Send(JsonError(404, "NOT_FOUND", "not found"));
  return true;
}

std::string WebUi::Login(const HttpRequest& req) {
  const nlohmann::json body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object() || (body.contains("token") && !body["token"].is_string())) {
    return JsonError(400, "INVALID_ARGUMENT", "expected {\"token\": \"...\"}");
  }
  // Checked before the token: once an IP is over its limit, even the right token waits (else the
  // limit would still answer whether a guess is right).
  if (const int64_t wait = login_limiter_.RetryAfterSeconds(req.peer); wait > 0) {
    return Response(StatusLine(429), kJson,
                    ErrorJson("RESOURCE_EXHAUSTED", "too many failed logins: try again later"),
                    StrCat("retry-after: ", wait, "\r\n"));
  }
  const std::string token = body.value("token", std::string());
  const std::shared_ptr<grpc::Channel> channel = deps_.channel();
  // The management API checks the token (in constant time) and names its role.
  std::string role = "admin";
  JsonReply who = CallManagementJson(channel, "WhoAmI", "{}", token);
  if (who.http_status == 501) {
    // A control plane without roles: a token that reads is the admin token.
    who = CallManagementJson(channel, "GetConfigStatus", "{}", token);
  } else if (who.http_status == 200) {
    const nlohmann::json j = nlohmann::json::parse(who.json, nullptr, false);
    role = j.is_object() ? j.value("role", std::string("admin")) : std::string("admin");
  }
  if (who.http_status == 401) {
    login_limiter_.RecordFailure(req.peer);
    return JsonError(401, "UNAUTHENTICATED", "wrong token");
  }
  if (who.http_status != 200) {
    return Response(StatusLine(who.http_status), kJson, who.json);
  }
  if (role != "admin" && role != "read-only") {
    login_limiter_.RecordFailure(req.peer);  // a relay key: a guess must not learn it is one
    return JsonError(403, "PERMISSION_DENIED",
                     "a relay key cannot open the dashboard: log in with the admin or read-only "
                     "token");
  }
  std::string csrf;
  const std::string id = sessions_.Create(token, role, &csrf);
  nlohmann::json j{{"role", role}, {"csrf", csrf}};
  return Response("200 OK", kJson, j.dump(), CookieHeader(id, false, req.tls));
}

std::string WebUi::Api(const HttpRequest& req, const Session& session, std::string_view method) {
  const JsonReply reply = CallManagementJson(deps_.channel(), method, req.body, session.token);
  return Response(StatusLine(reply.http_status), kJson, reply.json);
}

void WebUi::Events(const Session& session, HttpResponder& out) {
  const std::shared_ptr<grpc::Channel> channel = deps_.channel();
  if (channel == nullptr) {
    out.Send(JsonError(503, "UNAVAILABLE", "the management API is not up yet"));
    return;
  }
  auto stub = ccrelay::v1::Management::NewStub(channel);
  grpc::ClientContext ctx;
  if (!session.token.empty()) {
    ctx.AddMetadata("authorization", StrCat("Bearer ", session.token));
  }
  ccrelay::v1::WatchStatsRequest request;
  request.set_interval_ms(1000);
  std::unique_ptr<grpc::ClientReader<ccrelay::v1::StatsSnapshot>> reader =
      stub->WatchStats(&ctx, request);
  if (!out.Send(StrCat("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                       "connection: close\r\n",
                       SecurityHeaders(), "\r\n: stats\n\n"))) {
    ctx.TryCancel();
    reader->Finish();
    return;
  }
  google::protobuf::util::JsonPrintOptions jo;
  jo.always_print_primitive_fields = true;
  jo.preserve_proto_field_names = true;
  ccrelay::v1::StatsSnapshot snapshot;
  while (reader->Read(&snapshot)) {
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(snapshot, &json, jo);
    if (!out.Send(StrCat("data: ", json, "\n\n")) || out.Closed()) {
      ctx.TryCancel();
      break;
    }
  }
  const grpc::Status st = reader->Finish();
  if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) {
    out.Send(StrCat("event: error\ndata: ", ErrorJson("UNAVAILABLE", st.error_message()), "\n\n"));
  }
}

}  // namespace ccrelay::controlplane::webui
