#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "controlplane/budget/usage_writer.h"

namespace grpc {
class Service;
}

namespace ccrelay::common {
class Clock;
}

namespace ccrelay::v1 {
class HealthReport;
}

namespace ccrelay::controlplane {

class CallAuthenticator;
class DataPlaneRegistry;
class LatencyEstimates;
class SnapshotCache;
class StatsAggregator;
class TeamStore;

// DataPlaneSync (proto/stream.proto) with gRPC's callback API: one ServerBidiReactor per data
// plane stream. The first message must be a hello; then the stream watches the SnapshotCache and
// sends every new snapshot (state of the world, the node hook applied, a fresh nonce), at most
// one write in flight, a pending unsent snapshot replaced by a newer one. ACK, NACK, stats and
// health messages update the DataPlaneRegistry and the StatsAggregator. With `latency` set, the
// stats' latency samples feed it, and the stream sends its RoutingEstimates (when there are
// any) after the first snapshot and then every kEstimatesInterval (checked at each stats report
// of that data plane): unversioned, unacknowledged, never ahead of a pending snapshot. With
// `store` set, usage batches are committed to it off the reactors (budget/usage_writer.h) and
// acknowledged once committed, and each stream gets its budget grants; writes go out in the
// order snapshot, usage ack, grants, estimates.
class DataPlaneSyncService {
 public:
  struct Deps {
    SnapshotCache* cache = nullptr;
    DataPlaneRegistry* registry = nullptr;
    StatsAggregator* stats = nullptr;
    LatencyEstimates* latency = nullptr;  // optional
    const CallAuthenticator* auth = nullptr;
    const common::Clock* clock = nullptr;
    // The usage database (optional): without it usage batches are ignored (never acknowledged)
    // and no grants are sent.
    TeamStore* store = nullptr;
    // Called (on a gRPC thread, no lock held) when the set of connected data planes changes: a
    // data plane's first stream opened or its last one ended. Optional.
    std::function<void()> on_membership_change;
    // Called (on a gRPC thread, no lock held) with each HealthReport a data plane sends, after
    // the stats aggregator has it. Optional.
    std::function<void(const ccrelay::v1::HealthReport&)> on_health;
  };
  static constexpr std::chrono::milliseconds kEstimatesInterval{3000};

  explicit DataPlaneSyncService(const Deps& deps);
  ~DataPlaneSyncService();

  // The service to register with a grpc::ServerBuilder.
  grpc::Service* service();
  // Ends every open stream with UNAVAILABLE (data planes keep serving their last snapshot and
  // reconnect) and waits for their reactors to be done, then commits the usage batches still
  // queued. New streams are refused from then on.
  void Shutdown();

  // The usage writer's counters (all zero without a store).
  UsageWriterCounters usage_counters() const;

  class Impl;  // defined in the .cc (gRPC stays out of this header)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ccrelay::controlplane
