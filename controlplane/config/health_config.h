#pragma once

#include "proto/snapshot.pb.h"

#include "controlplane/config/yaml_reader.h"

namespace ccrelay::controlplane {

// health: circuit breakers (failure_threshold 5, failure_ratio 0.5, min_requests 10, window_ms
// 30000, open_ms 30000, half_open_probes 1), the 429 cooldown fallback (cooldown_ms 10000) and
// the control plane's active checks (interval_ms 60000, timeout_ms 5000, unhealthy_threshold 2,
// healthy_threshold 1).
ccrelay::v1::Health DefaultHealth();

// Reads `health:` (absent = all defaults); problems go to `reader`.
ccrelay::v1::Health ReadHealth(ConfigReader& reader, const Field& field);

}  // namespace ccrelay::controlplane
