#include "dataplane/state/state_registry.h"

namespace ccrelay::state {

StateRegistry::StateRegistry()
    : affinity_(std::make_shared<SessionAffinity>()),
      output_tokens_(std::make_shared<OutputTokenEstimator>()) {}

std::shared_ptr<KeyState> StateRegistry::Key(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto& slot = keys_[id];
  if (!slot) {
    slot = std::make_shared<KeyState>();
  }
  return slot;
}

std::shared_ptr<ProviderState> StateRegistry::Provider(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto& slot = providers_[name];
  if (!slot) {
    slot = std::make_shared<ProviderState>();
  }
  return slot;
}

std::shared_ptr<UserState> StateRegistry::User(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto& slot = users_[name];
  if (!slot) {
    slot = std::make_shared<UserState>();
  }
  return slot;
}

std::vector<std::pair<std::string, std::shared_ptr<KeyState>>> StateRegistry::Keys() const {
  absl::MutexLock lock(&mu_);
  return {keys_.begin(), keys_.end()};
}

}  // namespace ccrelay::state
