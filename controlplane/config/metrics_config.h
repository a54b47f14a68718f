#pragma once

#include "proto/snapshot.pb.h"

#include "controlplane/config/yaml_reader.h"

namespace ccrelay::controlplane {

// Reads `metrics:` (absent = no separate metrics listener; /metrics is always served on the
// client listener too).
ccrelay::v1::Metrics ReadMetrics(ConfigReader& reader, const Field& field);

}  // namespace ccrelay::controlplane
