#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace ccrelay::state {

// Mutable per-key state. Lives outside the immutable routing table, keyed by the key's stable
// id, so a reload or rotation that keeps a key keeps its state. Updated with atomics only.
struct KeyState {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> failures{0};
  // Until when (steady clock, ns since epoch of the clock) the key is cooling down after a 429.
  std::atomic<int64_t> cooldown_until_ns{0};
};

// Mutable per-provider state (key spreading cursor, counters).
struct ProviderState {
  std::atomic<uint64_t> key_cursor{0};
  std::atomic<uint64_t> requests{0};
};

// Owns the state objects; the compiler of a routing table links them in. Off the hot path (a
// mutex guards the maps; the hot path only touches the atomics through the table's pointers).
class StateRegistry {
 public:
  std::shared_ptr<KeyState> Key(const std::string& id);
  std::shared_ptr<ProviderState> Provider(const std::string& name);

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<KeyState>> keys_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<ProviderState>> providers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ccrelay::state
