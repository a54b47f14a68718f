#pragma once

#include <string>

#include "proto/snapshot.pb.h"

namespace ccrelay::controlplane {

// Lookups in a snapshot by name (providers) and fingerprint (keys); nullptr when absent.
const ccrelay::v1::Provider* FindProvider(const ccrelay::v1::RoutingSnapshot& snapshot,
                                          const std::string& name);
const ccrelay::v1::Key* FindKey(const ccrelay::v1::Provider& provider,
                                const std::string& fingerprint);
// Whether `snapshot` has that provider with that key.
bool HasKey(const ccrelay::v1::RoutingSnapshot& snapshot, const std::string& provider,
            const std::string& fingerprint);

}  // namespace ccrelay::controlplane
