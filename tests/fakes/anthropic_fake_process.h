#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fakes/child_process.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {

// A bearer token a fake Vertex or Foundry endpoint accepts (tests/fakes/anthropic_fake.py).
struct FakeBearerToken {
  std::string token;
  std::optional<int64_t> expires_unix_ms;  // nullopt: never expires
};

// Milliseconds since the Unix epoch, now + `offset_ms` (for FakeBearerToken::expires_unix_ms).
int64_t UnixMsFromNow(int64_t offset_ms);

// What FakeVertexOptions and FakeFoundryOptions share.
struct AnthropicFakeOptions {
  // Tokens in the wrapper's own tokens file (SetTokens() replaces them).
  std::vector<FakeBearerToken> tokens;
  // More tokens files the fake reads (e.g. those tests/fakes/fake_gcp_auth.py and
  // fake_azure_auth.py write for the tokens they issue).
  std::vector<std::string> tokens_files;
  // Bearer tokens accepted without expiry (--static-token).
  std::vector<std::string> static_tokens;
  // More flags of the fake, e.g. {"--reject-beta", "x-2025-01-01", "--hang-ms", "500"}.
  std::vector<std::string> extra_args;
};

// What FakeVertex and FakeFoundry share: one of the Python fakes built on
// tests/fakes/anthropic_fake.py, run by Debian's python3 (CCR_PYTHON) on 127.0.0.1 with its
// request log and its own tokens file (passed with --tokens; SetTokens() rewrites it) in a
// temporary directory. Started by the subclass's constructor (check ok()); stopped with this
// object.
class AnthropicFakeProcess {
 public:
  ~AnthropicFakeProcess();
  AnthropicFakeProcess(const AnthropicFakeProcess&) = delete;
  AnthropicFakeProcess& operator=(const AnthropicFakeProcess&) = delete;

  bool ok() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT", without the fake's path prefix.
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The wrapper's tokens file (the fake re-reads it on every request).
  const std::string& tokens_path() const { return tokens_path_; }
  const std::string& request_log_path() const { return request_log_path_; }
  // Replaces the tokens of the wrapper's tokens file (written aside and renamed).
  void SetTokens(const std::vector<FakeBearerToken>& tokens);
  // Every request logged so far (one JSON object each), the /__fake/ control calls left out.
  std::vector<nlohmann::json> Requests() const;
  // The last of Requests() (null if none).
  nlohmann::json LastRequest() const;
  // POST /__fake/fail-next: the next `count` requests (after auth and body checks) fail with
  // `status`, in the provider's error shape; `type` (letters and '_' only) overrides the
  // Anthropic error type or the Google status name. False if the fake did not accept it.
  bool FailNext(int status, int count = 1, std::string_view type = {});
  // POST /__fake/reset: drops pending failures.
  bool Reset();
  // The fake's stdout and stderr.
  std::string log() const { return process_.log(); }

 protected:
  // Starts CCR_PYTHON tests/fakes/<script> --listen 127.0.0.1:0 --request-log <own log>
  // --tokens <own file> [--tokens=F for each tokens_files] [--static-token=T for each]
  // args... extra_args...
  AnthropicFakeProcess(std::string_view script, const AnthropicFakeOptions& options,
                       const std::vector<std::string>& args);

 private:
  TempDir dir_;
  std::string tokens_path_;
  std::string request_log_path_;
  ChildProcess process_;
  uint16_t port_ = 0;
};

}  // namespace ccrelay::testing
