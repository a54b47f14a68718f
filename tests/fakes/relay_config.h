#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ccrelay::testing {

// Builds the YAML config of `cc-relay serve` for a test (short timeouts by default).
struct KeySpec {
  std::string key{};
  int weight = 0;     // 0: not written
  int rpm_limit = 0;  // 0: not written
  int tpm_limit = 0;  // 0: not written
  // Bedrock IAM credentials instead of `key` (written when aws_access_key_id is set).
  std::string aws_access_key_id{};
  std::string aws_secret_access_key{};
  std::string aws_session_token{};
};

struct ProviderSpec {
  std::string name{};
  std::string type = "anthropic";
  std::string base_url{};
  std::string ca_file{};  // "" : not written
  bool enabled = true;
  std::vector<std::string> models = {"claude-test-1"};
  std::vector<KeySpec> keys{};
  std::vector<std::pair<std::string, std::string>> model_mapping{};
  // Extra lines inside the provider entry, indented four spaces ("    aws_region: us-east-1\n").
  std::string extra_yaml{};
};

struct AuthSpec {
  std::string api_key{};
  bool allow_subscription = false;
  bool allow_bearer = false;
  std::string bearer_secret{};
};

struct TimeoutSpec {
  int connect_ms = 1000;
  int first_byte_ms = 5000;
  int first_byte_non_stream_ms = 5000;
  int idle_ms = 5000;
  int total_ms = 15000;
  int request_header_ms = 1000;
  int request_body_ms = 1000;
  int keepalive_ms = 5000;
  int drain_ms = 5000;
};

struct RelayConfig {
  AuthSpec auth{};
  int64_t max_body_bytes = 0;    // 0: not written (relay default)
  int64_t max_header_bytes = 0;  // 0: not written (relay default)
  TimeoutSpec timeouts{};
  std::vector<ProviderSpec> providers{};
  // "failover": primary = providers[0], fallbacks = the rest, in order.
  std::string strategy = "failover";
  int max_attempts = 3;
  // Extra lines inside `routing:`, indented two spaces ("  session_affinity: false\n").
  std::string routing_yaml{};
  // The control plane's active health checks (health.checks.interval_ms). Off by default in tests
  // so that a fake upstream sees only the requests a test sends; a test of the checks sets it.
  int health_check_interval_ms = 0;
  // Extra lines inside `health.checks:`, indented four spaces ("    unhealthy_threshold: 1\n").
  std::string health_checks_yaml{};
  // Extra lines inside `health:`, indented two spaces ("  cooldown_ms: 100\n").
  std::string health_yaml{};
  // Extra top-level sections, appended verbatim ("metrics:\n  listen: ...\n").
  std::string extra_yaml{};

  std::string ToYaml() const;
};

}  // namespace ccrelay::testing
