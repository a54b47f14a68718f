#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"

namespace ccrelay::controlplane {

// The control plane's small HTTP/1.1 listener: `GET /metrics` (Prometheus text 0.0.4, rendered
// by `render_metrics` at each scrape) and `GET /health` (200 {"status":"ok"}); `HEAD` too; other
// paths 404, other methods 405. Not a hot path: one thread, blocking sockets, one request per
// connection (`connection: close`), a 5 s deadline per request.
class MetricsHttpServer {
 public:
  using RenderFn = std::function<std::string()>;

  // Binds `listen` ("HOST:PORT", "[V6]:PORT"; port 0 picks a free one) and starts serving.
  // Unavailable when the address cannot be bound. Logs nothing (the caller logs the address).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& listen,
                                                                  RenderFn render_metrics);
  ~MetricsHttpServer();  // stops the thread and closes the socket
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // As bound, e.g. "127.0.0.1:8789".
  const std::string& address() const { return address_; }

  // The response to one request head (exposed for tests): status line, headers and body.
  static std::string Respond(std::string_view request_head, const RenderFn& render_metrics);

 private:
  MetricsHttpServer() = default;
  void Loop();

  RenderFn render_;
  std::string address_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace ccrelay::controlplane
