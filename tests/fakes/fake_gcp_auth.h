#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fakes/child_process.h"
#include "tests/fakes/temp_dir.h"

namespace ccrelay::testing {

// A service account the fake token endpoint knows: its public key verifies the JWTs.
struct GcpServiceAccount {
  std::string client_email;    // e.g. "relay@test-project.iam.gserviceaccount.com"
  std::string private_key_id;  // the JWT's kid ("" = the fake tries every key)
  std::string public_key_pem;  // "BEGIN PUBLIC KEY" (TestRsaKey::public_pem)
};

// An authorized_user (gcloud user) the fake accepts in the refresh-token grant.
struct GcpAuthorizedUser {
  std::string client_id;
  std::string client_secret;
  std::string refresh_token;
};

// The JSON of a service-account key file (type service_account) for `account`, with
// `private_key_pem` and, when not empty, `token_uri`.
std::string ServiceAccountFileJson(const GcpServiceAccount& account,
                                   const std::string& private_key_pem,
                                   const std::string& token_uri = "");
// The JSON of an authorized_user file as gcloud writes it.
std::string AuthorizedUserFileJson(const GcpAuthorizedUser& user,
                                   const std::string& token_uri = "");

// tests/fakes/fake_gcp_auth.py run by Debian's python3 (CCR_PYTHON) on 127.0.0.1: Google's
// token endpoint (POST /token; JWTs verified with python3-google-auth) and the metadata server's
// token route, with its accounts file, issued-tokens file and request log in a temporary
// directory. Starts in the constructor (check ok()); stops in the destructor.
class FakeGcpAuth {
 public:
  FakeGcpAuth(std::vector<GcpServiceAccount> accounts, std::vector<GcpAuthorizedUser> users,
              std::vector<std::string> extra_args = {});
  ~FakeGcpAuth();

  bool ok() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT": the metadata endpoint.
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // url() + "/token": the token endpoint, and the audience the fake expects by default.
  std::string token_endpoint() const { return url() + "/token"; }
  // The issued-tokens file (for a fake Vertex endpoint: fake_gcp_auth.py's check_bearer()).
  const std::string& tokens_file() const { return tokens_path_; }

  // Replaces the accepted accounts (the fake re-reads the file on every request).
  void SetAccounts(const std::vector<GcpServiceAccount>& accounts,
                   const std::vector<GcpAuthorizedUser>& users);
  // POST /__fake/fail-next?<query>, e.g. "status=503&n=2&route=token", "status=400&echo=1".
  bool FailNext(const std::string& query);
  // POST /__fake/set?<query>, e.g. "expires_in=5", "metadata_flavor=0".
  bool Set(const std::string& query);
  bool Reset();
  // GET /__fake/stats: token_calls, metadata_calls, issued, pending_failures (null on failure).
  nlohmann::json Stats() const;

  // Every request logged so far (one JSON object each; control calls are not logged).
  std::vector<nlohmann::json> Requests() const;
  // The issued-tokens file's "tokens" array.
  nlohmann::json IssuedTokens() const;
  // What the script printed (its port line, tracebacks).
  std::string log() const { return process_.log(); }

 private:
  bool Control(const std::string& method, const std::string& target) const;

  TempDir dir_;
  std::string accounts_path_;
  std::string tokens_path_;
  std::string request_log_path_;
  ChildProcess process_;
  uint16_t port_ = 0;
};

}  // namespace ccrelay::testing
