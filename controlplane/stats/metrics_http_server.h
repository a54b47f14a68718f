#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace boost::asio::ssl {
class context;
}

namespace ccrelay::controlplane {

// One parsed request on the HTTP listener.
struct HttpRequest {
  std::string method;
  std::string path;                                          // without the query
  std::string query;                                         // after '?', "" if none
  std::vector<std::pair<std::string, std::string>> headers;  // names lower case
  std::string body;
  // Both ends of the connection are loopback addresses (the UI serves plaintext only then).
  bool loopback = false;
  // The connection is TLS (the listener has --http-tls-cert/--http-tls-key).
  bool tls = false;
  // The client's IP address as text ("127.0.0.1", "::1"); "" if unknown.
  std::string peer;

  // The first header of that (lower-case) name, "" if none.
  std::string_view Header(std::string_view name) const;
};

// Where a route writes its answer: whole responses, or a stream (Server-Sent Events) until
// Closed().
class HttpResponder {
 public:
  virtual ~HttpResponder() = default;
  // Writes bytes as they are (status line and headers included); false once the peer is gone.
  virtual bool Send(std::string_view bytes) = 0;
  // The peer has gone or the server is stopping: a stream ends.
  virtual bool Closed() = 0;
};

// The control plane's small HTTP/1.1 listener: `GET /metrics` (Prometheus text 0.0.4, rendered
// by `render_metrics` at each scrape) and `GET /health` (200 {"status":"ok"}); `HEAD` too; an
// optional `route` answers other paths first (the web dashboard's /ui/); other paths 404, other
// methods 405. Not a hot path: a thread per connection (at most kMaxConnections at once, then
// 503), blocking sockets, one request per connection (`connection: close`), a 5 s deadline to
// read a request (bodies up to 1 MiB). With `tls` (certificate and key files) the one listener
// speaks only HTTPS (TLS 1.2 or newer, no renegotiation); a plaintext client fails its handshake.
class MetricsHttpServer {
 public:
  // PEM files; both empty = plaintext.
  struct Tls {
    std::string cert_file;
    std::string key_file;
  };
  using RenderFn = std::function<std::string()>;
  // Answers the request through the responder and returns true, or returns false (not its path).
  using RouteFn = std::function<bool(const HttpRequest&, HttpResponder&)>;
  static constexpr int kMaxConnections = 64;

  // Binds `listen` ("HOST:PORT", "[V6]:PORT"; port 0 picks a free one) and starts serving.
  // Unavailable when the address cannot be bound; FailedPrecondition (naming the file) when a
  // TLS file cannot be read or used. Logs nothing (the caller logs the address).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& listen,
                                                                  RenderFn render_metrics,
                                                                  RouteFn route = nullptr,
                                                                  const Tls& tls = {});
  ~MetricsHttpServer();  // stops accepting, ends every connection (streams too), closes
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // As bound, e.g. "127.0.0.1:8789".
  const std::string& address() const { return address_; }
  // The listener speaks HTTPS.
  bool tls() const { return tls_ != nullptr; }

  // The response to one request head (exposed for tests): status line, headers and body.
  static std::string Respond(std::string_view request_head, const RenderFn& render_metrics);
  // Parses a request head ("GET /x?y HTTP/1.1\r\nName: v\r\n..."); false if malformed.
  static bool ParseHead(std::string_view head, HttpRequest* out);

 private:
  MetricsHttpServer() = default;
  void Loop();
  void Serve(int fd);

  std::unique_ptr<boost::asio::ssl::context> tls_;  // null = plaintext
  RenderFn render_;
  RouteFn route_;
  std::string address_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable idle_;
  int connections_ = 0;  // guarded by mu_
  std::thread thread_;
};

}  // namespace ccrelay::controlplane
