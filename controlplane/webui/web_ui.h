#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "controlplane/stats/metrics_http_server.h"
#include "controlplane/webui/login_limiter.h"
#include "controlplane/webui/session_store.h"

namespace grpc {
class Channel;
}

namespace ccrelay::controlplane::webui {

// The web dashboard on the control plane's HTTP listener (SPEC.md, "Web dashboard"): `/ui/`
// (the page and its assets, built into the binary), `POST /ui/login`, `GET /ui/session`,
// `POST /ui/logout`, `POST /ui/api/<Method>` (the Management API through the JSON bridge, with
// the session's token) and `GET /ui/api/events` (WatchStats as Server-Sent Events). Over TLS it
// serves on any address (and its cookie is `Secure`); in plaintext only when both ends of the
// connection are loopback addresses and the Host header names a loopback host. Failed logins are
// rate-limited per client IP (LoginLimiter). Every answer carries a strict
// Content-Security-Policy.
class WebUi {
 public:
  struct Deps {
    // The Management API in this process, without any token of its own (each call carries the
    // session's); nullptr until the gRPC server is up.
    std::function<std::shared_ptr<grpc::Channel>()> channel;
    const common::Clock* clock = nullptr;
  };
  static constexpr std::string_view kCookie = "ccr_session";
  static constexpr std::string_view kContentSecurityPolicy =
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

  explicit WebUi(Deps deps);

  // MetricsHttpServer::RouteFn: true for the paths under /ui (answered), false otherwise.
  bool Handle(const HttpRequest& req, HttpResponder& out);

  // The headers every /ui answer carries (CSP, nosniff, no referrer, no framing, no-store),
  // each ending in CRLF.
  static std::string SecurityHeaders();
  // A whole response: status line, content type and length, the security headers, `extra`
  // (CRLF-terminated lines), body.
  static std::string Response(std::string_view status, std::string_view content_type,
                              std::string_view body, std::string_view extra = "");
  // The Host header names a loopback host (127.0.0.0/8, [::1], localhost), any port.
  static bool LoopbackHost(std::string_view host);

 private:
  std::string Login(const HttpRequest& req);
  std::string Api(const HttpRequest& req, const Session& session, std::string_view method);
  void Events(const Session& session, HttpResponder& out);

  Deps deps_;
  SessionStore sessions_;
  LoginLimiter login_limiter_;
};

}  // namespace ccrelay::controlplane::webui
