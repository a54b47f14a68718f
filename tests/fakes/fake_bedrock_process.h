#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fakes/child_process.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {

// An identity the fake Bedrock accepts (tests/fakes/fake_bedrock.py checks every request's
// SigV4 signature with botocore, or its Bedrock API key).
struct AwsIdentity {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // "" = none
};

// tests/fakes/fake_bedrock.py run by Debian's python3 (CCR_PYTHON), on 127.0.0.1, with its
// request log and credentials file in a temporary directory. Starts in the constructor (check
// ok()); stops in the destructor.
class FakeBedrock {
 public:
  FakeBedrock(std::vector<AwsIdentity> identities, std::vector<std::string> api_keys,
              std::vector<std::string> extra_args = {});
  ~FakeBedrock();

  bool ok() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Replaces the accepted identities (the fake re-reads the file on every request).
  void SetCredentials(const std::vector<AwsIdentity>& identities,
                      const std::vector<std::string>& api_keys);
  // Every request logged so far (one JSON object each), the /__fake/ control calls left out.
  std::vector<nlohmann::json> Requests() const;
  std::string log() const { return process_.log(); }

 private:
  TempDir dir_;
  std::string credentials_path_;
  std::string request_log_path_;
  ChildProcess process_;
  uint16_t port_ = 0;
};

}  // namespace ccrelay::testing
