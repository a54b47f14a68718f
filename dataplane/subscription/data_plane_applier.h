#pragma once

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

#include "dataplane/stats/health_report.h"
#include "dataplane/subscription/applier.h"

namespace ccrelay::server {
class DataPlane;
}

namespace ccrelay::subscription {

// Feeds snapshots to a server::DataPlane and reads its stats deltas.
class DataPlaneApplier : public SnapshotApplier {
 public:
  // `follow_logging`: apply each snapshot's logging level and format (a data plane that has no
  // config of its own and no --log-level / --log-format flag).
  DataPlaneApplier(server::DataPlane& data_plane, bool follow_logging);

  // subscription::SnapshotApplier
  absl::Status Apply(const ccrelay::v1::RoutingSnapshot& snapshot) override;
  uint64_t version() const override;
  void TakeStats(ccrelay::v1::StatsReport* report) override;
  bool TakeHealth(ccrelay::v1::HealthReport* report, bool full) override;
  void ApplyEstimates(const ccrelay::v1::RoutingEstimates& estimates) override;
  bool TakeUsage(ccrelay::v1::UsageBatch* batch) override;
  void RewindUsage() override;
  void AckUsage(uint64_t committed_seq) override;
  void ApplyBudgets(const ccrelay::v1::BudgetGrants& grants) override;

  // Enabled providers of the snapshot in force (for the admin API).
  std::vector<std::string> providers() const;

  // Waits for an Apply in progress, then rejects every later one (Unavailable). Call before the
  // data plane shuts down: its workers stop, and a snapshot posted to them would never complete.
  void Close();

 private:
  server::DataPlane& data_plane_;
  const bool follow_logging_;
  absl::Mutex apply_mu_;  // held for a whole Apply
  bool closed_ ABSL_GUARDED_BY(apply_mu_) = false;
  mutable absl::Mutex mu_;
  std::vector<std::string> providers_ ABSL_GUARDED_BY(mu_);
  stats::HealthReporter health_;  // the subscription's thread only
  uint64_t estimates_generation_ = 0;  // the subscription's thread only
  std::vector<std::string> granted_users_;  // of the last BudgetGrants (subscription thread)
};

}  // namespace ccrelay::subscription
