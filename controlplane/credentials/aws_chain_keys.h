#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "proto/snapshot.pb.h"

#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/aws_credential_refresher.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::aws {

// The keys of Bedrock providers configured without keys: one refresher per such provider walks
// the AWS credential chain (aws_credential_chain.h) and keeps its credentials fresh, and
// Overlay() puts them into every snapshot a data plane (or the health checker) gets, as one key
// with the stable id "<provider>/aws-chain" (its state and session affinity survive rotation;
// its fingerprint is the current access key id's). While there are none, the provider has no
// key (no candidate) and its health says why. Data planes never call STS or a metadata service.
//
// Thread-safe. Sync() may block (a first chain walk, bounded by the chain's timeouts): call it
// at start-up and from a thread of its own, never under the snapshot cache's lock.
class AwsChainKeys {
 public:
  // How a refresher's chain is built (tests inject endpoints and the environment).
  using RefresherFactory = std::function<std::unique_ptr<AwsCredentialRefresher>(
      const ccrelay::v1::Provider& provider, std::function<void()> on_change)>;

  struct Deps {
    EnvLookup env;                      // ProcessEnvironment() in production
    std::function<void()> on_change;    // credentials changed: republish the snapshot
    const common::Clock* clock = nullptr;  // RealClock when null
    RefresherFactory factory;           // default: the real chain with `env`
  };

  explicit AwsChainKeys(Deps deps);
  ~AwsChainKeys();  // Stop()
  AwsChainKeys(const AwsChainKeys&) = delete;
  AwsChainKeys& operator=(const AwsChainKeys&) = delete;

  // Starts a refresher for every enabled keyless Bedrock provider of `snapshot` that has none
  // with the same settings (region, profile, endpoints), stops the others. Blocking (see above).
  void Sync(const ccrelay::v1::RoutingSnapshot& snapshot);
  // Sync() on its own thread, the latest snapshot only (a SnapshotWatcher may call it).
  void SyncSoon(std::shared_ptr<const ccrelay::v1::RoutingSnapshot> snapshot);
  void Stop();

  // Adds each keyless Bedrock provider's chain key (when it has credentials) and, without
  // credentials, marks the provider unhealthy with the chain's last error.
  void Overlay(ccrelay::v1::RoutingSnapshot* snapshot) const;
  // Whether Overlay() would change anything in `snapshot` (a keyless Bedrock provider in it).
  static bool Applies(const ccrelay::v1::RoutingSnapshot& snapshot);

  // The provider's chain walks again now (a data plane saw its key refused); no-op for a
  // provider without a chain.
  void RefreshSoon(const std::string& provider);

  // Per provider, for status displays.
  std::map<std::string, AwsCredentialState> States() const;

 private:
  struct Entry {
    std::string settings;  // region|profile|sts|imds: a change restarts the refresher
    std::unique_ptr<AwsCredentialRefresher> refresher;
    // The access key id last put in a snapshot and since when (Overlay keeps them): a key a data
    // plane disabled before its credentials changed is enabled again (the key's health says
    // HEALTHY since then, which data planes read as "disabled before this: enable").
    std::string overlaid_key_id;
    int64_t changed_unix_ms = 0;
  };
  void SyncLoop();

  Deps deps_;
  mutable absl::Mutex mu_;
  // By provider name. Mutable: Overlay() notes when each provider's credentials changed.
  mutable std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::Mutex sync_mu_;  // one Sync() at a time (held while refreshers start)

  absl::Mutex pending_mu_;
  absl::CondVar pending_cv_;
  std::shared_ptr<const ccrelay::v1::RoutingSnapshot> pending_ ABSL_GUARDED_BY(pending_mu_);
  bool stopping_ ABSL_GUARDED_BY(pending_mu_) = false;
  std::thread thread_;
};

// Whether `p` takes its credentials from the chain: an enabled Bedrock provider without keys.
bool UsesCredentialChain(const ccrelay::v1::Provider& p);

}  // namespace ccrelay::controlplane::aws
