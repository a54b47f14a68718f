#pragma once

#include "absl/status/status.h"

#include "proto/snapshot.pb.h"

#include "controlplane/state/runtime_state.h"
#include "controlplane/store/team_store.h"

namespace ccrelay::controlplane {

// config snapshot (from the YAML) + runtime state (management API) -> the effective snapshot
// that data planes get. The rules are in runtime_state.h and SPEC.md ("Control plane").

// Drops the parts of `state` that no longer apply to `config`: entries of providers the YAML no
// longer has, overrides the YAML has since changed or that equal the YAML, tombstones of keys
// the YAML no longer has, runtime keys the YAML now has. Returns true if anything was dropped.
bool PruneRuntimeState(const ccrelay::v1::RoutingSnapshot& config, RuntimeState* state);

// The effective snapshot (version copied from `config`, normally 0; the cache numbers it).
// Key ids stay "<provider>/<fingerprint>", so data-plane key state survives. A provider whose
// weight was derived from its keys (the YAML set none) gets it re-derived from the effective
// keys.
ccrelay::v1::RoutingSnapshot BuildEffectiveSnapshot(const ccrelay::v1::RoutingSnapshot& config,
                                                    const RuntimeState& state);

// RoutingSnapshot.users from the stored teammates (issue 15; SPEC.md "Users and relay keys"):
// every user (name, SHA-256 of the key, fingerprint, enabled, policy), key_header
// "x-cc-relay-key", required = at least one user. Nothing of the key itself.
ccrelay::v1::Users BuildUsersSection(const std::vector<StoredUser>& users);

// go-control-plane's Consistent(): what a runtime change can break and a data plane would
// reject. At least one enabled provider; an enabled zai provider has an enabled key; a failover
// chain has an enabled provider. FailedPrecondition naming the problem otherwise.
absl::Status CheckEffectiveSnapshot(const ccrelay::v1::RoutingSnapshot& snapshot);

// True when the two differ in anything but the version.
bool SnapshotsDiffer(const ccrelay::v1::RoutingSnapshot& a, const ccrelay::v1::RoutingSnapshot& b);

// The provider's weight when the YAML sets none: the sum of its enabled keys' weights, >= 1.
uint32_t DerivedProviderWeight(const ccrelay::v1::Provider& provider);

}  // namespace ccrelay::controlplane
