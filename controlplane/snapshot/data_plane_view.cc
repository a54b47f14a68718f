#include "controlplane/snapshot/data_plane_view.h"

#include <utility>

#include "controlplane/snapshot/limit_share.h"

namespace ccrelay::controlplane {

void ApplyDataPlaneView(const credentials::MintedKeys* minted, size_t data_planes,
                        const HealthChecker* health, ccrelay::v1::RoutingSnapshot* snapshot) {
  if (minted != nullptr) {
    minted->Overlay(snapshot);
  }
  DivideLimits(data_planes, snapshot);
  if (health != nullptr) {
    health->Overlay(snapshot);
  }
  credentials::StripControlPlaneOnly(snapshot);
}

SnapshotConstSharedPtr WithMintedKeys(const credentials::MintedKeys& minted,
                                      SnapshotConstSharedPtr current) {
  if (current == nullptr || !minted.Applies(*current)) {
    return current;
  }
  auto with_keys = std::make_shared<ccrelay::v1::RoutingSnapshot>(*current);
  minted.Overlay(with_keys.get());
  return with_keys;
}

}  // namespace ccrelay::controlplane
