#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fakes/child_process.h"

namespace ccrelay::testing {

// tests/fakes/fake_aws_metadata.py run with Debian's python3 (CCR_PYTHON): IMDSv2, the
// container credentials endpoint and STS AssumeRoleWithWebIdentity on one 127.0.0.1 port.
// Stopped (SIGKILL) with this object.
class FakeAwsMetadata {
 public:
  // Starts the script with its command-line flags (e.g. {"--token-file", path}); false (and
  // error()) if it did not print its port in time.
  bool Start(const std::vector<std::string>& flags = {});
  const std::string& error() const { return error_; }

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT"
  std::string url() const;

  // POST /control with these settings (lifetime_s, expires_unix_ms, fail_next, fail_mode,
  // delay_ms, imds_role, role_arn, token_file, container_auth).
  bool Configure(const nlohmann::json& settings);
  // GET /control: sts_calls, container_calls, imds_token_calls, imds_credential_calls,
  // last_session_name, last_role_arn, last_authorization (null on failure).
  nlohmann::json Counters();

 private:
  ChildProcess process_;
  uint16_t port_ = 0;
  std::string error_;
};

}  // namespace ccrelay::testing
