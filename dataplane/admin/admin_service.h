#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace ccrelay::v1 {
class DataPlaneState;
class ExplainRouteRequest;
class RouteExplanation;
}  // namespace ccrelay::v1

namespace ccrelay::admin {

// What the admin API reads and does; implemented by the process that owns the data plane.
// Called on gRPC threads: implementations must be thread-safe and must not block.
class AdminBackend {
 public:
  virtual ~AdminBackend() = default;
  virtual void FillState(ccrelay::v1::DataPlaneState* state) = 0;
  // Starts a graceful drain (stop accepting, let responses finish, exit; with `keep_running`,
  // wait for a termination signal instead of exiting); returns the number of open client
  // connections at that moment.
  virtual int64_t StartDrain(bool keep_running) = 0;
  // Routes `request` against the live table and key state without sending or reserving
  // anything (see route_explain.h). InvalidArgument for a bad request.
  virtual absl::Status ExplainRoute(const ccrelay::v1::ExplainRouteRequest& request,
                                    ccrelay::v1::RouteExplanation* out) = 0;
};

// The DataPlaneAdmin gRPC service (GetState, Drain, ExplainRoute) on its own listener.
class AdminServer {
 public:
  struct Options {
    std::string listen = "127.0.0.1:0";  // port 0 picks a free port
    // Required ("authorization: Bearer <token>") when non-empty. A listener beyond loopback
    // refuses to start without one.
    std::string token;
  };

  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(const Options& options,
                                                            AdminBackend& backend);
  ~AdminServer();  // Shutdown()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // "127.0.0.1:PORT" as bound.
  const std::string& address() const { return address_; }
  // Stops the listener; calls in flight are cancelled. Idempotent.
  void Shutdown();

  struct Impl;

 private:
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string address_;
};

}  // namespace ccrelay::admin
