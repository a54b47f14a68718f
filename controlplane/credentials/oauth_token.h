#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "dataplane/common/secret.h"

namespace ccrelay::controlplane::credentials {

// A short-lived OAuth 2.0 access token the control plane minted (Vertex's Google token, Azure's
// Entra ID token). Data planes receive only this, as a key's secret, never what minted it.
struct OAuthToken {
  common::Secret access_token;
  int64_t expires_unix_ms = 0;  // 0: the issuer named no expiry
  // Where it came from, for `cc-relayctl providers get` and logs; never a secret:
  // "service account sa@p.iam.gserviceaccount.com", "authorized user", "metadata server",
  // "client secret (app 1a2b...)", "workload identity (app ...)", "managed identity".
  std::string source;
};

// A standard OAuth 2.0 token response (RFC 6749 5.1), as Google's and Microsoft's token
// endpoints and both metadata services send it: {"access_token", "expires_in" (seconds, a
// number or a numeric string), "token_type"}; Azure's IMDS sends "expires_on" (Unix seconds,
// numeric string) as well, which wins when present. `now_unix_ms` dates expires_in. An error
// body ({"error", "error_description"}, RFC 6749 5.2) becomes a status naming `what` and the
// error code and description (never the request or a token). kInvalidArgument for anything
// else that is not a usable token.
absl::StatusOr<OAuthToken> ParseOAuthTokenResponse(std::string_view body, int64_t now_unix_ms,
                                                   std::string_view what);

}  // namespace ccrelay::controlplane::credentials
