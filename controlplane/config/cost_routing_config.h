#pragma once

#include "proto/snapshot.pb.h"

#include "controlplane/config/yaml_reader.h"

namespace ccrelay::controlplane {

// Reads `routing.cost_based` (absent: no threshold, no floor):
//   threshold_tokens: N          (>= 1) requests estimated at N input tokens or more rank
//                                 by tier first, then cost
//   quality_floor: {default: T, thinking: T, tools: T}   T = small | medium | large
void ReadCostBased(ConfigReader& reader, const Field& field, ccrelay::v1::CostBased* out);

// Reads a provider's `context_window` (tokens, >= 1), `tier` (small | medium | large) and
// `capabilities` (a list of thinking, images, web_search, web_fetch, code_execution, computer,
// bash, text_editor, memory, other_server_tools; replaces the type's built-in set) from the
// provider's mapping.
void ReadProviderFit(ConfigReader& reader, const Mapping& provider, ccrelay::v1::Provider* p);

}  // namespace ccrelay::controlplane
