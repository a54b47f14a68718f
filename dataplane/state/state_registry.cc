#include "dataplane/state/state_registry.h"

namespace ccrelay::state {

StateRegistry::StateRegistry()
    : affinity_(std::make_shared<SessionAffinity>()),
      output_tokens_(std::make_shared<OutputTokenEstimator>()) {}

namespace {

// The state in `map` under `key`, created on first use (the caller holds the registry's lock).
template <typename T>
std::shared_ptr<T> FindOrCreate(absl::flat_hash_map<std::string, std::shared_ptr<T>>& map,
                                const std::string& key) {
  auto& slot = map[key];
  if (!slot) {
    slot = std::make_shared<T>();
  }
  return slot;
}

}  // namespace

std::shared_ptr<KeyState> StateRegistry::Key(const std::string& id) {
  absl::MutexLock lock(&mu_);
  return FindOrCreate(keys_, id);
}

std::shared_ptr<ProviderState> StateRegistry::Provider(const std::string& name) {
  absl::MutexLock lock(&mu_);
  return FindOrCreate(providers_, name);
}

std::shared_ptr<UserState> StateRegistry::User(const std::string& name) {
  absl::MutexLock lock(&mu_);
  return FindOrCreate(users_, name);
}

std::vector<std::pair<std::string, std::shared_ptr<KeyState>>> StateRegistry::Keys() const {
  absl::MutexLock lock(&mu_);
  return {keys_.begin(), keys_.end()};
}

}  // namespace ccrelay::state
