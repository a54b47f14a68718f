#include "controlplane/snapshot/snapshot_cache.h"

#include <algorithm>

#include "proto/snapshot.pb.h"

#include "controlplane/snapshot/snapshot_builder.h"

namespace ccrelay::controlplane {

SnapshotCache::SnapshotCache() = default;
SnapshotCache::~SnapshotCache() = default;

void SnapshotCache::PublishLocked(ccrelay::v1::RoutingSnapshot snapshot) {
  snapshot.set_version(++version_);
  current_ = std::make_shared<const ccrelay::v1::RoutingSnapshot>(std::move(snapshot));
  for (SnapshotWatcher* w : watchers_) {
    w->OnSnapshot(current_);
  }
}

uint64_t SnapshotCache::SetSnapshot(const ccrelay::v1::RoutingSnapshot& snapshot) {
  absl::MutexLock lock(&mu_);
  if (current_ != nullptr && !SnapshotsDiffer(*current_, snapshot)) {
    return version_;
  }
  PublishLocked(snapshot);
  return version_;
}

uint64_t SnapshotCache::Republish() {
  absl::MutexLock lock(&mu_);
  if (current_ != nullptr) {
    PublishLocked(*current_);
  }
  return version_;
}

uint64_t SnapshotCache::EnsureVersionAbove(uint64_t seen) {
  absl::MutexLock lock(&mu_);
  if (version_ >= seen) {
    return version_;
  }
  version_ = seen;
  if (current_ != nullptr) {
    PublishLocked(*current_);
  }
  return version_;
}

SnapshotConstSharedPtr SnapshotCache::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

uint64_t SnapshotCache::version() const {
  absl::MutexLock lock(&mu_);
  return version_;
}

void SnapshotCache::Watch(SnapshotWatcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.push_back(watcher);
  if (current_ != nullptr) {
    watcher->OnSnapshot(current_);
  }
}

void SnapshotCache::Cancel(SnapshotWatcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher), watchers_.end());
}

void SnapshotCache::SetNodeHook(NodeSnapshotHook hook) {
  absl::MutexLock lock(&hook_mu_);
  hook_ = std::move(hook);
}

ccrelay::v1::RoutingSnapshot SnapshotCache::ForNode(
    const std::string& node_id, const ccrelay::v1::RoutingSnapshot& snapshot) const {
  NodeSnapshotHook hook;
  {
    absl::MutexLock lock(&hook_mu_);
    hook = hook_;
  }
  ccrelay::v1::RoutingSnapshot out = snapshot;
  if (hook) {
    hook(node_id, &out);
  }
  return out;
}

}  // namespace ccrelay::controlplane
