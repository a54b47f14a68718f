#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

#include "proto/team.pb.h"

#include "controlplane/budget/budget_ledger.h"
#include "controlplane/snapshot/snapshot_cache.h"
#include "controlplane/store/team_store.h"

namespace ccrelay::common {
class Clock;
}

namespace ccrelay::controlplane {

// What the usage writer has done since it started (the control plane's /metrics).
struct UsageWriterCounters {
  uint64_t batches_committed = 0;
  uint64_t records_added = 0;   // records above their source's committed seq
  uint64_t records_resent = 0;  // skipped: the database had them
  uint64_t requests_added = 0;  // the requests the added records sum
  uint64_t commit_failures = 0;
  uint64_t batches_dropped = 0;  // queue full, or after a failed commit of their stream
  uint64_t grant_sets_sent = 0;  // BudgetGrants messages handed to streams
};

// One data plane's sync stream as the usage writer sees it (the sync service's reactor). Each
// method queues a write, or ends the stream, and never blocks.
class UsageStream {
 public:
  virtual ~UsageStream() = default;
  // Every record of this data plane up to `committed_seq` is committed.
  virtual void SendUsageAck(uint64_t committed_seq) = 0;
  // This data plane's grants (complete); a newer set replaces one not yet sent.
  virtual void SendBudgets(std::shared_ptr<const ccrelay::v1::BudgetGrants> grants) = 0;
  // A batch of this stream could not be committed: the stream ends, and the data plane resends
  // its unacknowledged records after reconnecting.
  virtual void AbortForUsage(std::string_view reason) = 0;
};

// Usage ingestion and the budget ledger on one thread of their own (SPEC.md "Usage ingestion
// and acknowledgement", "Budgets (the ledger)"): the sync streams' reactors hand it batches and
// never wait for SQLite. Each batch is written in one transaction (TeamStore::RecordUsage); only
// after the commit does its stream get UsageAck{highest seq of the batch}, then its data plane's
// grants (every data plane's, when a budgeted user's spend changed). A failed commit is logged
// and aborts the stream; that stream's later batches are then dropped, not written (the data
// plane resends them all after reconnecting, and a later seq committed first would make the
// database skip the failed ones as resends). Grants also go to a stream when it opens (after its
// first snapshot), and to every stream when the budgets in the snapshot or the number of connected
// data planes change. Thread-safe.
class UsageWriter final : public SnapshotWatcher {
 public:
  // Batches waiting for the writer beyond this: the submitting stream is aborted (the data plane
  // resends after reconnecting) instead of growing memory without bound.
  static constexpr size_t kMaxQueuedBatches = 1024;

  UsageWriter(TeamStore& store, const common::Clock& clock);
  ~UsageWriter() override;  // Stop()

  // A stream whose hello named `data_plane` and whose first snapshot is queued: it gets grants
  // (when any user has a budget).
  void Open(UsageStream* stream, const std::string& data_plane);
  // After Close returns, `stream` is never called again.
  void Close(UsageStream* stream);
  // A UsageBatch the stream received (its records are moved out).
  void Submit(UsageStream* stream, ccrelay::v1::UsageBatch* batch);
  // Commits what is queued, then ends the thread; calls after it are ignored.
  void Stop();

  // SnapshotWatcher: the users (and their budgets) in force.
  void OnSnapshot(const SnapshotConstSharedPtr& snapshot) override;

  UsageWriterCounters counters() const;

 private:
  struct Batch {
    uint64_t stream = 0;
    std::string data_plane;
    std::string source;  // "<data plane id>/<instance>": whose seqs these are
    std::vector<ccrelay::v1::UsageRecord> records;
  };
  struct Stream {
    UsageStream* stream = nullptr;
    std::string data_plane;
    bool failed = false;         // a commit failed: never acknowledged again
    bool sent_grants = false;    // its last grants were non-empty (so an empty set must follow)
  };

  void Run();
  void CommitBatch(Batch* batch);
  // Computes and sends grants to the streams `ids` (all when empty), where there is something
  // to say: some user has a budget, or the stream's last set was not empty (an empty set
  // clears it). Without budgets a stream gets no grants at all.
  void SendGrants(const std::vector<uint64_t>& ids);

  TeamStore& store_;
  const common::Clock& clock_;
  BudgetLedger ledger_;  // the writer thread's only

  mutable absl::Mutex mu_;
  UsageWriterCounters counters_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Batch> queue_ ABSL_GUARDED_BY(mu_);
  SnapshotConstSharedPtr users_snapshot_ ABSL_GUARDED_BY(mu_);  // not yet applied
  bool grants_to_all_ ABSL_GUARDED_BY(mu_) = false;
  std::set<uint64_t> grants_to_ ABSL_GUARDED_BY(mu_);          // streams just opened
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Stream> streams_ ABSL_GUARDED_BY(mu_);
  std::map<UsageStream*, uint64_t> ids_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, size_t> connected_ ABSL_GUARDED_BY(mu_);   // data plane -> its streams
  std::map<std::string, uint64_t> committed_ ABSL_GUARDED_BY(mu_);  // highest committed seq
  std::thread thread_;
};

}  // namespace ccrelay::controlplane
