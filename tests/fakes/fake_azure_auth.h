#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fakes/child_process.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {

// An Entra ID app registration the fake accepts: a client secret, a federated token file (the
// fake reads it at every request), or both.
struct FakeAzureApp {
  std::string tenant;
  std::string client_id;
  std::string secret;                // "" = none
  std::string federated_token_file;  // "" = none
};

// The managed identities of the fake's "VM".
struct FakeAzureIdentities {
  bool system_assigned = true;
  std::vector<std::string> user_assigned;  // client ids
};

// tests/fakes/fake_azure_auth.py run by Debian's python3 (CCR_PYTHON) on 127.0.0.1: Entra ID's
// token endpoint (POST /{tenant}/oauth2/v2.0/token) and IMDS's managed identity route on one
// port, with its clients file, issued-tokens file and request log in a temporary directory.
// Stopped with this object.
class FakeAzureAuth {
 public:
  FakeAzureAuth() = default;
  ~FakeAzureAuth();
  FakeAzureAuth(const FakeAzureAuth&) = delete;
  FakeAzureAuth& operator=(const FakeAzureAuth&) = delete;

  // Starts the script with these apps and identities and extra flags (e.g. {"--scope", S,
  // "--expires-in", "60"}); false (and error()) if it did not say it was listening in time.
  bool Start(const std::vector<FakeAzureApp>& apps, const FakeAzureIdentities& identities = {},
             const std::vector<std::string>& flags = {});
  const std::string& error() const { return error_; }

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT": the authority host and the IMDS endpoint alike.
  std::string url() const;

  // Replaces the apps and identities (the fake re-reads its clients file at every request).
  void SetClients(const std::vector<FakeAzureApp>& apps, const FakeAzureIdentities& identities);
  // POST /__fake/fail-next?status=S&n=N plus `extra_query` ("echo=1&error=invalid_grant").
  bool FailNext(int status, int n = 1, const std::string& extra_query = "");
  // POST /__fake/set?<query> ("expires_in=5", "scope=...", "delay_ms=...").
  bool Set(const std::string& query);
  // POST /__fake/reset: command-line settings back, pending failures dropped.
  bool Reset();
  // GET /__fake/stats: token_calls, imds_calls, issued, pending_failures (null on failure).
  nlohmann::json Stats() const;

  // Every request logged so far (one JSON object each), the /__fake/ calls left out.
  std::vector<nlohmann::json> Requests() const;
  // The issued tokens: {"TOKEN": {"expires_unix_ms", "grant", "client_id", ...}} ({} before any).
  nlohmann::json Tokens() const;
  // The file a fake Foundry endpoint reads to check bearer tokens (see the script's --help).
  const std::string& tokens_file() const { return tokens_path_; }
  std::string log() const { return process_.log(); }

 private:
  bool Control(const std::string& method, const std::string& target) const;

  TempDir dir_;
  std::string clients_path_;
  std::string tokens_path_;
  std::string request_log_path_;
  ChildProcess process_;
  uint16_t port_ = 0;
  std::string error_;
};

}  // namespace ccrelay::testing
