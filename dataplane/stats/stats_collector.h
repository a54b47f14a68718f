#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/stats/request_observer.h"

namespace ccrelay::stats {

// Counters of one (provider, key) since the last Take().
struct KeyDelta {
  std::string provider;
  std::string key_fingerprint;
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t rate_limited = 0;
  uint64_t input_tokens = 0;
  uint64_t output_tokens = 0;
  uint64_t cache_read_tokens = 0;
  uint64_t cache_creation_tokens = 0;
  uint64_t latency_ms_sum = 0;
  uint64_t latency_count = 0;
};

struct StatsDelta {
  std::vector<KeyDelta> keys;
  uint64_t requests = 0;
  int64_t active_streams = 0;
  std::vector<RequestRecord> recent;  // oldest first, capped
};

// Accumulates deltas between reports to the control plane. One short mutex hold per request.
class StatsCollector : public RequestObserver {
 public:
  static constexpr size_t kMaxRecent = 50;

  // stats::RequestObserver
  void OnRequestDone(const RequestRecord& record) override;
  void OnAttemptFailed(const AttemptRecord& record) override;
  void OnStreamStarted() override { active_streams_.fetch_add(1, std::memory_order_relaxed); }
  void OnStreamEnded() override { active_streams_.fetch_sub(1, std::memory_order_relaxed); }

  // Returns the deltas since the previous call and starts new ones.
  StatsDelta Take();
  int64_t active_streams() const { return active_streams_.load(std::memory_order_relaxed); }

 private:
  KeyDelta& Slot(const std::string& provider, const std::string& fingerprint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  absl::flat_hash_map<std::pair<std::string, std::string>, KeyDelta> keys_ ABSL_GUARDED_BY(mu_);
  uint64_t requests_ ABSL_GUARDED_BY(mu_) = 0;
  // The last kMaxRecent records since Take(), a ring whose entries are assigned over (their
  // strings keep their capacity: no malloc per request once warm).
  std::vector<RequestRecord> recent_ ABSL_GUARDED_BY(mu_);
  size_t recent_next_ ABSL_GUARDED_BY(mu_) = 0;   // where the next record goes
  size_t recent_count_ ABSL_GUARDED_BY(mu_) = 0;  // records since Take()
  std::atomic<int64_t> active_streams_{0};
};

}  // namespace ccrelay::stats
