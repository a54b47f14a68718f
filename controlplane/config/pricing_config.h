#pragma once

#include "proto/snapshot.pb.h"

#include "controlplane/config/yaml_reader.h"

namespace ccrelay::controlplane {

// Reads `providers[].pricing`: a mapping from a model name (or a prefix ending in '*') to
// {input_per_mtok, output_per_mtok, cache_read_per_mtok, cache_write_per_mtok}, USD per
// million tokens, each a non-negative number (absent: 0). Appended to `p` in file order.
void ReadPricing(ConfigReader& reader, const Field& field, ccrelay::v1::Provider* p);

}  // namespace ccrelay::controlplane
