#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ccrelay::v1 {
class RoutingSnapshot;
class StatsReport;
class HealthReport;
class RoutingEstimates;
class UsageBatch;
class BudgetGrants;
}  // namespace ccrelay::v1

namespace ccrelay::subscription {

// What a snapshot subscription feeds: the data plane (DataPlaneApplier) or a test double.
// Every method is called from the subscription's own thread, never from a gRPC reaction.
class SnapshotApplier {
 public:
  virtual ~SnapshotApplier() = default;

  // Applies the whole snapshot or nothing. OK = ACK; an error = NACK (the previous snapshot
  // stays in force). May block until every worker holds the new table.
  virtual absl::Status Apply(const ccrelay::v1::RoutingSnapshot& snapshot) = 0;
  // Version of the snapshot in force (0: none yet).
  virtual uint64_t version() const = 0;
  // Fills `report` with the deltas since the previous call.
  virtual void TakeStats(ccrelay::v1::StatsReport* report) = 0;
  // The control plane's shared routing estimates (latency-based), state of the world: applied
  // to the learned state by provider name; never acknowledged.
  virtual void ApplyEstimates(const ccrelay::v1::RoutingEstimates& estimates) { (void)estimates; }
  // Fills `report` with what changed in the upstream health it observes since the previous call
  // (with `full`, everything not ok: a new stream). False when there is nothing to send.
  virtual bool TakeHealth(ccrelay::v1::HealthReport* report, bool full) {
    (void)report;
    (void)full;
    return false;
  }
  // Usage records (teams, SPEC.md "Usage records"): the next records not sent on this stream
  // (at most 1000); false when there are none.
  virtual bool TakeUsage(ccrelay::v1::UsageBatch* batch) {
    (void)batch;
    return false;
  }
  // A new stream: every unacknowledged record is sent again.
  virtual void RewindUsage() {}
  // UsageAck: the records up to `committed_seq` are in the database.
  virtual void AckUsage(uint64_t committed_seq) { (void)committed_seq; }
  // BudgetGrants (state of the world for the users with a budget).
  virtual void ApplyBudgets(const ccrelay::v1::BudgetGrants& grants) { (void)grants; }
};

using SnapshotApplierPtr = std::unique_ptr<SnapshotApplier>;

}  // namespace ccrelay::subscription
