#pragma once

#include <optional>
#include <string>
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

// A routing.strategy value (aliases normalised; unknown ones reported with a did-you-mean), for
// scenario rules' `strategy` too. nullopt when absent or refused.
std::optional<std::string> ReadStrategyName(ConfigReader& reader, const Field& field);

// A provider name that must be one of `providers`; nullopt (error reported) otherwise.
std::optional<std::string> ReadProviderName(ConfigReader& reader, const Field& field,
                                            const std::vector<ReadProvider>& providers);

}  // namespace ccrelay::controlplane
