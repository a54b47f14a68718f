#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "proto/team.pb.h"
#include "dataplane/state/user_state.h"

namespace ccrelay::team {

// The user of a request that presented no relay key.
inline constexpr std::string_view kAnonymousUser = "anonymous";

// Tokens a budget counts for one record: input + output + cache write + cache read.
uint64_t BudgetTokens(const ccrelay::v1::UsageRecord& record);

// The usage records of this data plane not yet acknowledged by the control plane (SPEC.md
// "Usage records"): appended once per finished request (one short mutex hold, like the stats
// collector), sent in batches by the subscription, forgotten once acknowledged. Bounded: beyond
// `capacity` the oldest record is dropped (counted and logged). The journal is also where a
// budget grant becomes a cap, because the user's cumulative spend is charged under its lock
// together with the record (a grant sees both or neither).
class UsageJournal {
 public:
  static constexpr size_t kDefaultCapacity = 100000;
  static constexpr size_t kMaxBatch = 1000;

  explicit UsageJournal(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // Called (outside the lock) for each record dropped over the bound (a metric); set before use.
  void set_on_drop(std::function<void()> on_drop) { on_drop_ = std::move(on_drop); }

  // Appends `record` with the next seq (from 1) and adds its spend to `user` (null: anonymous).
  // Returns the seq.
  uint64_t Append(ccrelay::v1::UsageRecord record, state::UserState* user);

  // The next records not yet sent on this stream (at most kMaxBatch), in seq order; false when
  // there are none.
  bool TakeBatch(ccrelay::v1::UsageBatch* batch);
  // A new stream: every record not acknowledged is sent again.
  void Rewind();
  // Every record up to `committed_seq` is in the database: forgotten.
  void Ack(uint64_t committed_seq);

  // A budget grant as caps on `user`'s cumulative spend: the spend as of grant.committed_seq
  // (the cumulative spend less the user's pending records after it) plus the share.
  std::shared_ptr<const state::BudgetGrantState> MakeGrant(const ccrelay::v1::BudgetGrant& grant,
                                                           const state::UserState& user);

  size_t pending() const;
  uint64_t last_seq() const;
  uint64_t acked_seq() const;
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  const size_t capacity_;
  std::function<void()> on_drop_;
  mutable absl::Mutex mu_;
  std::deque<ccrelay::v1::UsageRecord> records_ ABSL_GUARDED_BY(mu_);  // seq order
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_send_ ABSL_GUARDED_BY(mu_) = 1;  // seq of the next record to send
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace ccrelay::team
