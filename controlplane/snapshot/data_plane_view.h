#pragma once

#include <cstddef>
#include <memory>

#include "proto/snapshot.pb.h"

#include "controlplane/credentials/minted_keys.h"
#include "controlplane/health/health_checker.h"

namespace ccrelay::controlplane {

// The snapshot as one data plane receives it (the snapshot cache's node hook), in this order:
// the minted credentials as keys (`minted`), its share of every key and user limit among the
// `data_planes` connected (limit_share.h), the active health checks' verdicts (`health`), and
// nothing that is control plane only (credentials::StripControlPlaneOnly: no token_source).
// `minted` and `health` may be null.
void ApplyDataPlaneView(const credentials::MintedKeys* minted, size_t data_planes,
                        const HealthChecker* health, ccrelay::v1::RoutingSnapshot* snapshot);

// What the health checker checks: `current` with the minted keys (the same pointer when no
// provider mints).
SnapshotConstSharedPtr WithMintedKeys(const credentials::MintedKeys& minted,
                                      SnapshotConstSharedPtr current);

}  // namespace ccrelay::controlplane
