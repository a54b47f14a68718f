#include "tests/fakes/relay_config.h"

#include <nlohmann/json.hpp>

namespace ccrelay::testing {
namespace {

// JSON strings are valid YAML double-quoted scalars.
std::string Quote(const std::string& s) { return nlohmann::json(s).dump(); }

}  // namespace

std::string RelayConfig::ToYaml() const {
  std::string y;
  y += "server:\n";
  y += "  listen: \"127.0.0.1:0\"\n";
  y += "  auth:\n";
  y += "    api_key: " + Quote(auth.api_key) + "\n";
  y +=
      std::string("    allow_subscription: ") + (auth.allow_subscription ? "true" : "false") + "\n";
  y += std::string("    allow_bearer: ") + (auth.allow_bearer ? "true" : "false") + "\n";
  y += "    bearer_secret: " + Quote(auth.bearer_secret) + "\n";
  if (max_body_bytes > 0) {
    y += "  max_body_bytes: " + std::to_string(max_body_bytes) + "\n";
  }
  if (max_header_bytes > 0) {
    y += "  max_header_bytes: " + std::to_string(max_header_bytes) + "\n";
  }
  y += "  timeouts:\n";
  y += "    connect_ms: " + std::to_string(timeouts.connect_ms) + "\n";
  y += "    first_byte_ms: " + std::to_string(timeouts.first_byte_ms) + "\n";
  y += "    first_byte_non_stream_ms: " + std::to_string(timeouts.first_byte_non_stream_ms) + "\n";
  y += "    idle_ms: " + std::to_string(timeouts.idle_ms) + "\n";
  y += "    total_ms: " + std::to_string(timeouts.total_ms) + "\n";
  y += "    request_header_ms: " + std::to_string(timeouts.request_header_ms) + "\n";
  y += "    request_body_ms: " + std::to_string(timeouts.request_body_ms) + "\n";
  y += "    keepalive_ms: " + std::to_string(timeouts.keepalive_ms) + "\n";
  y += "    drain_ms: " + std::to_string(timeouts.drain_ms) + "\n";
  y += "providers:\n";
  for (const auto& p : providers) {
    y += "  - name: " + Quote(p.name) + "\n";
    y += "    type: " + p.type + "\n";
    y += std::string("    enabled: ") + (p.enabled ? "true" : "false") + "\n";
    if (!p.base_url.empty()) {
      y += "    base_url: " + Quote(p.base_url) + "\n";
    }
    y += p.extra_yaml;
    if (!p.ca_file.empty()) {
      y += "    ca_file: " + Quote(p.ca_file) + "\n";
    }
    if (!p.models.empty()) {
      y += "    models:\n";
      for (const auto& m : p.models) {
        y += "      - " + Quote(m) + "\n";
      }
    }
    if (!p.keys.empty()) {
      y += "    keys:\n";
      for (const auto& k : p.keys) {
        if (!k.aws_access_key_id.empty()) {
          y += "      - aws_access_key_id: " + Quote(k.aws_access_key_id) + "\n";
          y += "        aws_secret_access_key: " + Quote(k.aws_secret_access_key) + "\n";
          if (!k.aws_session_token.empty()) {
            y += "        aws_session_token: " + Quote(k.aws_session_token) + "\n";
          }
        } else {
          y += "      - key: " + Quote(k.key) + "\n";
        }
        if (k.weight > 0) {
          y += "        weight: " + std::to_string(k.weight) + "\n";
        }
        if (k.rpm_limit > 0) {
          y += "        rpm_limit: " + std::to_string(k.rpm_limit) + "\n";
        }
        if (k.tpm_limit > 0) {
          y += "        tpm_limit: " + std::to_string(k.tpm_limit) + "\n";
        }
      }
    }
    if (!p.model_mapping.empty()) {
      y += "    model_mapping:\n";
      for (const auto& [from, to] : p.model_mapping) {
        y += "      " + Quote(from) + ": " + Quote(to) + "\n";
      }
    }
  }
  y += "routing:\n";
  y += "  strategy: " + strategy + "\n";
  if (strategy == "failover" && !providers.empty()) {
    y += "  failover:\n";
    y += "    primary: " + Quote(providers[0].name) + "\n";
    y += "    fallbacks:";
    if (providers.size() == 1) {
      y += " []\n";
    } else {
      y += "\n";
      for (size_t i = 1; i < providers.size(); ++i) {
        y += "      - " + Quote(providers[i].name) + "\n";
      }
    }
  }
  y += "  max_attempts: " + std::to_string(max_attempts) + "\n";
  y += routing_yaml;
  y += "health:\n";
  y += "  checks:\n";
  y += "    interval_ms: " + std::to_string(health_check_interval_ms) + "\n";
  y += health_checks_yaml;
  y += health_yaml;
  y += extra_yaml;
  return y;
}

}  // namespace ccrelay::testing
