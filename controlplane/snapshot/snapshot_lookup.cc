#include "controlplane/snapshot/snapshot_lookup.h"

namespace ccrelay::controlplane {

const ccrelay::v1::Provider* FindProvider(const ccrelay::v1::RoutingSnapshot& snapshot,
                                          const std::string& name) {
  for (const ccrelay::v1::Provider& p : snapshot.providers()) {
    if (p.name() == name) {
      return &p;
    }
  }
  return nullptr;
}

const ccrelay::v1::Key* FindKey(const ccrelay::v1::Provider& provider,
                                const std::string& fingerprint) {
  for (const ccrelay::v1::Key& k : provider.keys()) {
    if (k.fingerprint() == fingerprint) {
      return &k;
    }
  }
  return nullptr;
}

bool HasKey(const ccrelay::v1::RoutingSnapshot& snapshot, const std::string& provider,
            const std::string& fingerprint) {
  const ccrelay::v1::Provider* p = FindProvider(snapshot, provider);
  return p != nullptr && FindKey(*p, fingerprint) != nullptr;
}

}  // namespace ccrelay::controlplane
