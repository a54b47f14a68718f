#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "proto/snapshot.pb.h"

#include "controlplane/credentials/credential_refresher.h"
#include "controlplane/credentials/minted_credential.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::credentials {

// How the control plane mints credentials for one provider type (an entry of the registry
// MintedKeys::Deps::minters; the built-in ones are in minters.cc).
struct Minter {
  // Builds a provider's source from its settings (region, token_source, ...) and whatever the
  // process environment says. Called on the sync thread; must not block on the network (the
  // first Resolve() does). nullptr: the provider gets no credential, its health says why.
  std::function<std::unique_ptr<CredentialSource>(const ccrelay::v1::Provider&)> source;
  // The provider's settings `source` depends on; when it changes, the provider's refresher is
  // replaced. Empty: the provider's token_source. (The provider type is always part of it.)
  std::function<std::string(const ccrelay::v1::Provider&)> settings;
  // The key's id in the snapshot is "<provider>/<key_suffix>": stable across refreshes, so the
  // key's state and session affinity survive them.
  std::string key_suffix = "minted";
  // The refresher's noun, log prefix and timings (MintedKeys sets name, source, on_change and
  // clock).
  CredentialRefresherOptions refresher;
};
using Minters = std::map<std::string, Minter>;  // by provider type

// The keys of providers whose credentials the control plane mints: an enabled provider of a
// type with a Minter and without keys (Bedrock: the AWS credential chain; Vertex: Google
// tokens; Azure: Entra ID tokens). One CredentialRefresher per such provider keeps its
// credential fresh, and Overlay() puts it into every snapshot a data plane (or the health
// checker) gets, as one key with a stable id (see Minter::key_suffix) and the credential's
// fingerprint. Without a credential the provider has no key (no candidate) and its health says
// why. Data planes never see what minted a credential (Provider.token_source is stripped, see
// StripControlPlaneOnly) and never call a token endpoint or metadata service.
//
// Thread-safe. Sync() may block (a first Resolve() per new provider, bounded by the sources'
// timeouts): call it at start-up and from a thread of its own (SyncSoon), never under the
// snapshot cache's lock.
class MintedKeys {
 public:
  struct Deps {
    Minters minters;                       // by provider type
    std::function<void()> on_change;       // a credential changed: republish the snapshot
    const common::Clock* clock = nullptr;  // RealClock when null
  };

  explicit MintedKeys(Deps deps);
  ~MintedKeys();  // Stop()
  MintedKeys(const MintedKeys&) = delete;
  MintedKeys& operator=(const MintedKeys&) = delete;

  // Starts a refresher for every minting provider of `snapshot` that has none with the same
  // settings, stops the others. Blocking (see above).
  void Sync(const ccrelay::v1::RoutingSnapshot& snapshot);
  // Sync() on its own thread, the latest snapshot only (a SnapshotWatcher may call it).
  void SyncSoon(std::shared_ptr<const ccrelay::v1::RoutingSnapshot> snapshot);
  void Stop();

  // Adds each minting provider's key (when it has a credential) and, without one, marks the
  // provider unhealthy with the source's last error.
  void Overlay(ccrelay::v1::RoutingSnapshot* snapshot) const;
  // Whether Overlay() would change anything in `snapshot` (a minting provider in it).
  bool Applies(const ccrelay::v1::RoutingSnapshot& snapshot) const;
  // Whether the control plane mints `p`'s credential: enabled, no keys, a type with a Minter.
  bool Mints(const ccrelay::v1::Provider& p) const;

  // The provider's source is asked again now (a data plane saw its key refused); no-op for a
  // provider that does not mint.
  void RefreshSoon(const std::string& provider);

  // Per minting provider, for status displays.
  std::map<std::string, CredentialState> States() const;

 private:
  struct Entry {
    std::string settings;  // a change restarts the refresher
    std::string key_suffix;
    std::unique_ptr<CredentialRefresher> refresher;
    // The fingerprint last put in a snapshot and since when (Overlay keeps them): a key a data
    // plane disabled before its credential changed is enabled again (the key's health says
    // HEALTHY since then, which data planes read as "disabled before this: enable").
    std::string overlaid_fingerprint;
    int64_t changed_unix_ms = 0;
  };
  const Minter* Find(const std::string& type) const;
  std::string Settings(const Minter& m, const ccrelay::v1::Provider& p) const;
  void SyncLoop();

  Deps deps_;
  mutable absl::Mutex mu_;
  // By provider name. Mutable: Overlay() notes when each provider's credential changed.
  mutable std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::Mutex sync_mu_;  // one Sync() at a time (held while refreshers start)

  absl::Mutex pending_mu_;
  absl::CondVar pending_cv_;
  std::shared_ptr<const ccrelay::v1::RoutingSnapshot> pending_ ABSL_GUARDED_BY(pending_mu_);
  bool stopping_ ABSL_GUARDED_BY(pending_mu_) = false;
  std::thread thread_;
};

// Clears what only the control plane may hold from every provider (Provider.token_source: the
// private key file, client secret, ... a token is minted from). Applied last to every snapshot
// a data plane receives.
void StripControlPlaneOnly(ccrelay::v1::RoutingSnapshot* snapshot);

// A minted credential for people, never a secret: "service account x@y, token 1a2b3c4d,
// expires in 52 min"; "none: <last error>"; "refresh failing since <UTC time> (3 attempts):
// <error>; web identity, key 1a2b3c4d, valid for 12 min".
std::string DescribeCredential(const CredentialState& state, int64_t now_unix_ms);

}  // namespace ccrelay::controlplane::credentials
