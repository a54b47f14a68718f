#pragma once

#include <string>
#include <vector>

#include "proto/snapshot.pb.h"

#include "controlplane/config/yaml_reader.h"

namespace ccrelay::controlplane {

// A provider as read, with where its name was written (for cross-reference messages).
struct ReadProvider {
  ccrelay::v1::Provider provider;
  Field name_field;
};

// Reads `providers:`. Every entry with a usable name is returned, even if other fields had
// errors, so later checks (failover references) do not pile up follow-on errors. Reports
// duplicate names and the absence of an enabled provider. Relative ca_file paths are resolved
// against `base_dir` (the config file's directory; "" = as written).
std::vector<ReadProvider> ReadProviders(ConfigReader& reader, const Field& field,
                                        const std::string& base_dir);

// Bedrock's base URL for a region: https://bedrock-runtime.<region>.amazonaws.com.
std::string BedrockDefaultBaseUrl(std::string_view region);

// The provider of the built-in default: anthropic, enabled, api.anthropic.com, no keys.
ccrelay::v1::Provider DefaultAnthropicProvider();

}  // namespace ccrelay::controlplane
