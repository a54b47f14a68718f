#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/state/state_registry.h"
#include "dataplane/stats/data_plane_metrics.h"
#include "dataplane/stats/observer_list.h"
#include "dataplane/stats/stats_collector.h"
#include "dataplane/team/usage_journal.h"

namespace ccrelay::v1 {
class RoutingSnapshot;
}

namespace ccrelay::routing {
struct RoutingTable;
}

namespace ccrelay::server {

// The data plane: N workers, one listener, snapshots applied without a lock on the request path.
// Consumes only routing snapshots (never YAML).
class DataPlane {
 public:
  struct Options {
    std::string listen;    // overrides snapshot.server.listen when non-empty
    unsigned workers = 0;  // 0: snapshot.server.workers, else hardware threads
    // A second listener serving only /metrics and /health; overrides snapshot.metrics.listen
    // when non-empty. Bound once, at creation (a later snapshot does not move it).
    std::string metrics_listen;
  };

  static absl::StatusOr<std::unique_ptr<DataPlane>> Create(
      const ccrelay::v1::RoutingSnapshot& initial, const Options& options);
  // A data plane with no snapshot yet (fed by a control plane): it listens at once on
  // options.listen and answers 503 until the first snapshot is applied.
  static absl::StatusOr<std::unique_ptr<DataPlane>> Create(const Options& options);
  ~DataPlane();

  // Compiles and publishes a snapshot to every worker; returns once all of them hold it (ACK),
  // or an error with the old table still in place (NACK). Any thread but a worker's.
  absl::Status ApplySnapshot(const ccrelay::v1::RoutingSnapshot& snapshot);
  uint64_t version() const { return version_.load(); }

  // Serves until Shutdown() completes. Handles SIGTERM/SIGINT (graceful) itself when
  // `handle_signals`; `on_sighup` (optional) is called on SIGHUP.
  void Run(bool handle_signals, std::function<void()> on_sighup = nullptr);
  // Stops accepting, lets requests in flight finish up to the drain timeout, then stops.
  void Shutdown();
  // "127.0.0.1:8787" as actually bound (port resolved when 0 was asked).
  const std::string& listen_address() const { return listen_address_; }
  // The metrics listener as bound, "" when there is none.
  const std::string& metrics_address() const { return metrics_address_; }
  int64_t active_sessions() const;
  // Deltas for the control plane's stats (see stats::StatsCollector::Take).
  stats::StatsCollector& stats();
  // More observers (metrics); call before Run(). The observer must outlive the data plane.
  void AddObserver(stats::RequestObserver* observer);
  // The Prometheus metrics served by GET /metrics (fed by the observer hooks).
  stats::DataPlaneMetrics& metrics();
  // The usage records not yet acknowledged by the control plane (teams).
  team::UsageJournal& usage();
  // The state kept across snapshots (users' budget grants are applied to it).
  state::StateRegistry& states();
  // The routing table in force (for the health report; not for the request path, which holds
  // its worker's copy).
  std::shared_ptr<const routing::RoutingTable> table() const;

 private:
  struct Impl;
  explicit DataPlane(std::unique_ptr<Impl> impl);
  static absl::StatusOr<std::unique_ptr<DataPlane>> CreateWithTable(
      std::shared_ptr<const routing::RoutingTable> table, std::unique_ptr<Impl> impl,
      uint64_t version, unsigned workers, const std::string& listen,
      const std::string& metrics_listen);
  std::unique_ptr<Impl> impl_;
  std::string listen_address_;
  std::string metrics_address_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace ccrelay::server
