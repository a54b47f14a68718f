#pragma once

#include "proto/snapshot.pb.h"

#include "controlplane/config/yaml_reader.h"

namespace ccrelay::controlplane {

// Reads `routing.latency_based` (absent = every default) into routing->latency_based():
// explore_share (0..1), outlier_factor (> 1), outlier_margin_ms, tolerance (>= 0),
// expected_output_tokens (>= 1). Errors name the key's file:line:col.
void ReadLatencyRouting(ConfigReader& reader, const Field& field, ccrelay::v1::Routing* routing);

}  // namespace ccrelay::controlplane
