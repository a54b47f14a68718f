#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

#include "dataplane/state/key_state.h"
#include "dataplane/state/output_estimator.h"
#include "dataplane/state/session_affinity.h"
#include "dataplane/state/user_state.h"

namespace ccrelay::state {

// Owns the mutable state objects; the compiler of a routing table links them in, so state
// survives reloads and rotations. Off the hot path (a mutex guards the maps; the hot path only
// touches the state objects through the table's pointers).
class StateRegistry {
 public:
  StateRegistry();

  std::shared_ptr<KeyState> Key(const std::string& id);
  std::shared_ptr<ProviderState> Provider(const std::string& name);
  // A relay-key user's state by name (rate limits, spend, budget grant).
  std::shared_ptr<UserState> User(const std::string& name);
  // Session -> (provider, key) affinity, shared by every table.
  const std::shared_ptr<SessionAffinity>& affinity() const { return affinity_; }
  // Output tokens learned per model (cost-based), shared by every table.
  const std::shared_ptr<OutputTokenEstimator>& output_tokens() const { return output_tokens_; }

  // Every key's state by id (for stats and management), in no particular order.
  std::vector<std::pair<std::string, std::shared_ptr<KeyState>>> Keys() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<KeyState>> keys_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<ProviderState>> providers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<UserState>> users_ ABSL_GUARDED_BY(mu_);
  const std::shared_ptr<SessionAffinity> affinity_;
  const std::shared_ptr<OutputTokenEstimator> output_tokens_;
};

}  // namespace ccrelay::state
