#pragma once

#include <future>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

#include "dataplane/admin/admin_service.h"
#include "dataplane/server/data_plane.h"
#include "dataplane/subscription/data_plane_applier.h"
#include "dataplane/subscription/snapshot_subscription.h"

namespace ccrelay::subscription {

struct SubscribedDataPlaneOptions {
  server::DataPlane::Options data_plane;  // client listener and workers
  // id, control_plane, labels, token; the listen and admin addresses are filled in as bound.
  SubscriptionOptions subscription;
  ChannelFactory channel_factory;
  std::string admin_listen = "127.0.0.1:0";  // "" = no admin API
  bool follow_snapshot_logging = false;      // see DataPlaneApplier
};

// A data plane fed by a control plane: the client listener (server::DataPlane), the snapshot
// subscription, the admin API, and the process lifecycle. A drain (SIGTERM, SIGINT or the admin
// Drain call) first ends the subscription, then lets the data plane finish its responses.
// Used by `cc-relay data-plane` (remote control plane) and `cc-relay serve` (in-process).
class SubscribedDataPlane : public admin::AdminBackend {
 public:
  // Binds the client and admin listeners and starts the subscription.
  static absl::StatusOr<std::unique_ptr<SubscribedDataPlane>> Create(
      SubscribedDataPlaneOptions options);
  ~SubscribedDataPlane() override;

  // OK once the first snapshot is applied; its NACK error; or DeadlineExceeded.
  absl::Status WaitForFirstSnapshot(std::chrono::milliseconds timeout) {
    return subscription_->WaitForFirstSnapshot(timeout);
  }
  // Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and every thread it starts later.
  // Call it first thing in main (before gRPC or any thread starts): Run() takes these signals
  // with sigwait, and a thread that does not block them would get the default action.
  static void BlockSignals();

  // Serves until a drain completes. Handles SIGTERM/SIGINT (drain) and SIGHUP (`on_sighup`, run
  // on a control thread where it may block) itself.
  void Run(std::function<void()> on_sighup);
  // Starts the drain (any thread; does not block).
  std::shared_future<void> RequestDrain();

  const std::string& listen_address() const { return data_plane_->listen_address(); }
  std::string admin_address() const;  // "" without an admin API
  server::DataPlane& data_plane() { return *data_plane_; }

  // admin::AdminBackend
  void FillState(ccrelay::v1::DataPlaneState* state) override;
  int64_t StartDrain(bool keep_running) override;
  absl::Status ExplainRoute(const ccrelay::v1::ExplainRouteRequest& request,
                            ccrelay::v1::RouteExplanation* out) override;

  struct Control;

 private:
  SubscribedDataPlane() = default;

  SubscribedDataPlaneOptions options_;
  std::unique_ptr<server::DataPlane> data_plane_;
  std::unique_ptr<DataPlaneApplier> applier_;
  std::unique_ptr<SnapshotSubscription> subscription_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<Control> control_;
  std::atomic<bool> draining_{false};
};

}  // namespace ccrelay::subscription
