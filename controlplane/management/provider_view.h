#pragma once

#include <vector>

#include "proto/management.pb.h"
#include "proto/snapshot.pb.h"

#include "controlplane/credentials/credential_refresher.h"
#include "controlplane/credentials/minted_keys.h"
#include "controlplane/health/health_checker.h"
#include "controlplane/state/config_store.h"
#include "controlplane/state/runtime_state.h"
#include "controlplane/stats/stats_aggregator.h"

namespace ccrelay::controlplane {

// What the management API shows of providers and keys: the effective snapshot joined with the
// runtime state (source), the data planes' health observations and the aggregated stats. Never
// a secret: keys appear as fingerprints only.
struct ProviderViewInputs {
  const ccrelay::v1::RoutingSnapshot& effective;
  const ccrelay::v1::RoutingSnapshot& config;  // the YAML's: tells config keys from runtime ones
  const RuntimeState& state;
  const StatsAggregator& stats;
  const std::vector<DrainingKey>& draining;
  const HealthChecker* checks = nullptr;  // the active health checks (none: not shown)
  // Minted credentials of providers without keys (Bedrock's AWS chain, Vertex's and Azure's
  // tokens), by provider (none: not shown).
  const std::map<std::string, credentials::CredentialState>* minted_credentials = nullptr;
  int64_t now_unix_ms = 0;  // for "expires in"
};

// Key states: disabled (enabled: false), cooldown | failing | auth_failed (observed by a data
// plane), auth_failed | failing (the control plane's health check refused the key / could not
// reach it), draining (removed or rotated away, data planes not all past it yet), else active.
// Provider health: disabled; unhealthy (a provider-wide failure observed or checked, keys and
// none active, or a minted credential and none in force); degraded (some key not active, a
// provider-wide cooldown, or a minted credential whose refresh fails); else healthy.
// `credentials` describes a minted credential (credentials::DescribeCredential).
std::vector<ccrelay::v1::ProviderInfo> BuildProviderInfos(const ProviderViewInputs& in);

}  // namespace ccrelay::controlplane
