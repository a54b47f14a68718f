#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace ccrelay::v1 {
class RoutingSnapshot;
}

namespace ccrelay::controlplane {

using SnapshotConstSharedPtr = std::shared_ptr<const ccrelay::v1::RoutingSnapshot>;

// Someone who wants every new snapshot (a data plane's stream). Called with the cache's lock
// held, in version order: must not block and must not call back into the cache.
class SnapshotWatcher {
 public:
  virtual ~SnapshotWatcher() = default;
  virtual void OnSnapshot(const SnapshotConstSharedPtr& snapshot) = 0;
};

// Adjusts the snapshot for one data plane (issue 5: its share of each key's rate limits).
using NodeSnapshotHook =
    std::function<void(const std::string& node_id, ccrelay::v1::RoutingSnapshot* snapshot)>;

// go-control-plane's SnapshotCache (pkg/cache/v3/simple.go), state of the world: one current
// versioned snapshot; setting a different one increments the version and answers every watcher.
// Thread-safe.
class SnapshotCache {
 public:
  SnapshotCache();
  ~SnapshotCache();

  // Publishes `snapshot` (its version is ignored) when it differs from the current one in
  // anything but the version: the version increments and every watcher gets it. Returns the
  // version in force afterwards.
  uint64_t SetSnapshot(const ccrelay::v1::RoutingSnapshot& snapshot);
  // Publishes the current snapshot again under a new version (a node hook's output changed).
  uint64_t Republish();
  // A data plane that applied `seen` (from an earlier run of the control plane) must never be
  // sent a lower version: if the current version is below `seen`, the snapshot is published
  // again as seen + 1 (to every watcher).
  uint64_t EnsureVersionAbove(uint64_t seen);

  SnapshotConstSharedPtr Current() const;
  uint64_t version() const;

  // Registers a watcher; it gets the current snapshot at once (if there is one).
  void Watch(SnapshotWatcher* watcher);
  // After Cancel returns, the watcher is never called again.
  void Cancel(SnapshotWatcher* watcher);

  void SetNodeHook(NodeSnapshotHook hook);
  // The snapshot as `node_id` gets it: a copy with the node hook applied. May be called from
  // SnapshotWatcher::OnSnapshot.
  ccrelay::v1::RoutingSnapshot ForNode(const std::string& node_id,
                                       const ccrelay::v1::RoutingSnapshot& snapshot) const;

 private:
  void PublishLocked(ccrelay::v1::RoutingSnapshot snapshot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  SnapshotConstSharedPtr current_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<SnapshotWatcher*> watchers_ ABSL_GUARDED_BY(mu_);
  // Its own lock: watchers call ForNode while mu_ is held (lock order mu_ -> hook_mu_).
  mutable absl::Mutex hook_mu_;
  NodeSnapshotHook hook_ ABSL_GUARDED_BY(hook_mu_);
};

}  // namespace ccrelay::controlplane
