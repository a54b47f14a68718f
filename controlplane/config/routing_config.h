#pragma once

#include <vector>

#include "proto/snapshot.pb.h"

#include "controlplane/config/provider_config.h"
#include "controlplane/config/yaml_reader.h"

namespace ccrelay::controlplane {

// routing: strategy shuffle, max_attempts 3, no failover chain, session affinity on with a
// one-hour TTL.
ccrelay::v1::Routing DefaultRouting();

// Reads `routing:` (absent = defaults) and checks that failover.primary and every fallback
// name one of `providers`.
ccrelay::v1::Routing ReadRouting(ConfigReader& reader, const Field& field,
                                 const std::vector<ReadProvider>& providers);

}  // namespace ccrelay::controlplane
