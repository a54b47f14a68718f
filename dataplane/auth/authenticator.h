#pragma once

#include <string>
#include <string_view>

#include "dataplane/common/secret.h"

namespace ccrelay::auth {

// server.auth compiled from the snapshot.
struct AuthSettings {
  common::Secret api_key;       // empty: method off
  bool allow_subscription = false;
  bool allow_bearer = false;
  common::Secret bearer_secret; // empty with allow_bearer: any non-empty bearer token
  // True when no method is configured: the relay is open (every request accepted).
  bool open() const { return api_key.empty() && !allow_subscription && !allow_bearer; }
};

enum class AuthMethod { kOpen, kApiKey, kSubscription, kBearer };

struct AuthResult {
  bool ok = false;
  AuthMethod method = AuthMethod::kOpen;
  std::string message;  // why it failed (no secret in it), for the 401 body
};

// Tries the configured methods in the order of seed-README.md: api_key (x-api-key header equals
// it), subscription (any non-empty Authorization: Bearer token), bearer (Authorization: Bearer
// equal to bearer_secret, or any when bearer_secret is empty). Secrets are compared in constant
// time. `x_api_key` and `authorization` are the raw header values ("" when absent). The bearer
// scheme is matched case-insensitively.
AuthResult Authenticate(const AuthSettings& settings, std::string_view x_api_key,
                        std::string_view authorization);

// The token of an "Authorization: Bearer <token>" value, or "" when it is not a bearer value.
std::string_view BearerToken(std::string_view authorization);

}  // namespace ccrelay::auth
