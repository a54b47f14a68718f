#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

#include "proto/team.pb.h"

#include "dataplane/state/user_state.h"

namespace ccrelay::team {

// The user of a request that presented no relay key.
inline constexpr std::string_view kAnonymousUser = "anonymous";

// Tokens a budget counts for one record: input + output + cache write + cache read.
uint64_t BudgetTokens(const ccrelay::v1::UsageRecord& record);

// One finished request as the journal takes it: views into the request's own strings, copied
// only when its key is new in the current tick.
struct UsageEntry {
  std::string_view user;  // kAnonymousUser without a relay key
  std::string_view user_key_fingerprint;
  std::string_view provider;  // "" when no attempt was made
  std::string_view key_fingerprint;
  std::string_view model;
  int32_t status = 0;
  int64_t unix_ms = 0;  // when it ended
  uint64_t input_tokens = 0;
  uint64_t output_tokens = 0;
  uint64_t cache_read_tokens = 0;
  uint64_t cache_creation_tokens = 0;
  double cost_usd = 0;
  int64_t duration_ms = 0;
};

// The usage of this data plane not yet acknowledged by the control plane (SPEC.md "Usage
// records"). Each finished request is added to the open sum of its (user, user key, provider,
// key, model, status, UTC minute): one short mutex hold and a hash lookup, no allocation once
// the key has been seen this tick. TakeBatch seals the open sums into records (the next seqs)
// and hands them out in batches; they are forgotten once acknowledged. Bounded: beyond
// `capacity` sealed records the oldest is dropped (counted and logged). The journal is also
// where a budget grant becomes a cap, because the user's cumulative spend is charged under its
// lock together with the sum (a grant sees both or neither).
class UsageJournal {
 public:
  static constexpr size_t kDefaultCapacity = 100000;
  static constexpr size_t kMaxBatch = 1000;
  // Open sums beyond this are sealed at once (a control plane away for long must not let them
  // grow without bound between ticks).
  static constexpr size_t kMaxOpen = 4096;

  explicit UsageJournal(size_t capacity = kDefaultCapacity);

  // Called (outside the lock) for each record dropped over the bound (a metric); set before use.
  void set_on_drop(std::function<void()> on_drop) { on_drop_ = std::move(on_drop); }

  // Adds one finished request and its spend to `user` (null: anonymous).
  void Add(const UsageEntry& entry, state::UserState* user);

  // Seals the open sums, then the next records not yet sent on this stream (at most kMaxBatch),
  // in seq order, with this process's instance; false when there are none.
  bool TakeBatch(ccrelay::v1::UsageBatch* batch);
  // A new stream: every record not acknowledged is sent again.
  void Rewind();
  // Every record up to `committed_seq` is in the database: forgotten.
  void Ack(uint64_t committed_seq);

  // A budget grant as caps on `user`'s cumulative spend: the spend as of grant.committed_seq
  // (the cumulative spend less the user's sums not committed by then, sealed or open) plus the
  // share.
  std::shared_ptr<const state::BudgetGrantState> MakeGrant(const ccrelay::v1::BudgetGrant& grant,
                                                           const state::UserState& user);

  // Random hex, drawn at construction: names this process's seqs to the database.
  const std::string& instance() const { return instance_; }
  size_t pending() const;  // sealed records not acknowledged
  uint64_t last_seq() const;
  uint64_t acked_seq() const;
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  // Moves the open sums to records_ with the next seqs. Returns how many records were dropped
  // over the bound and the last one's seq.
  void SealLocked(uint64_t* dropped, uint64_t* dropped_seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReportDrops(uint64_t dropped, uint64_t dropped_seq);

  const size_t capacity_;
  const std::string instance_;
  std::function<void()> on_drop_;
  mutable absl::Mutex mu_;
  // The open sums: the key (status, minute, then the strings, NUL-separated) -> index in open_.
  absl::flat_hash_map<std::string, size_t> open_index_ ABSL_GUARDED_BY(mu_);
  std::vector<ccrelay::v1::UsageRecord> open_ ABSL_GUARDED_BY(mu_);
  std::string key_scratch_ ABSL_GUARDED_BY(mu_);  // reused: no allocation per request
  std::deque<ccrelay::v1::UsageRecord> records_ ABSL_GUARDED_BY(mu_);  // sealed, seq order
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_send_ ABSL_GUARDED_BY(mu_) = 1;  // seq of the next record to send
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace ccrelay::team
