#pragma once

#include <string>

namespace ccrelay::v1 {
class RoutingSnapshot;
}

namespace ccrelay::controlplane {

// The effective config as YAML in the config file's layout, every default filled in, for
// ShowConfig. Every secret (keys[].key, server.auth.api_key, server.auth.bearer_secret) is
// replaced by "<redacted fingerprint=XXXXXXXX>"; keys added at runtime carry a "# runtime" comment.
std::string RedactedConfigYaml(const ccrelay::v1::RoutingSnapshot& effective,
                               const ccrelay::v1::RoutingSnapshot& config);

// The placeholder that stands for a secret.
std::string RedactedSecret(const std::string& secret);

}  // namespace ccrelay::controlplane
