#pragma once

#include <string>

#include "absl/status/statusor.h"

#include "controlplane/credentials/google_credentials_file.h"
#include "controlplane/credentials/http_fetch.h"
#include "controlplane/credentials/oauth_token.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::gcp {

// Google's OAuth 2.0 token endpoint, when neither the config nor the file names one.
inline constexpr char kDefaultTokenEndpoint[] = "https://oauth2.googleapis.com/token";

// One request to a token endpoint. `endpoint` is the full URL (the JWT's aud as well).
struct TokenGrantRequest {
  std::string endpoint;
  std::string scope;
  aws::HttpTimeouts timeouts;
};

// The JWT bearer grant (protocols.md 4.3): an RS256 assertion for `key`, iat = the clock's now,
// POSTed as grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT. Expiry =
// the time of the request + expires_in. Source "service account <client_email>".
absl::StatusOr<credentials::OAuthToken> FetchServiceAccountToken(const ServiceAccountKey& key,
                                                                 const TokenGrantRequest& request,
                                                                 const common::Clock& clock);

// The refresh-token grant of an authorized_user file: grant_type=refresh_token, client_id,
// client_secret, refresh_token (no scope: the refresh token carries gcloud's). Source
// "authorized user (client <first 12 characters of the client id>...)".
absl::StatusOr<credentials::OAuthToken> FetchAuthorizedUserToken(const AuthorizedUser& user,
                                                                 const TokenGrantRequest& request,
                                                                 const common::Clock& clock);

// Errors of both: the HTTP failure (kUnavailable, kDeadlineExceeded, ...), or the endpoint's
// answer: HTTP 429 and 5xx → kUnavailable, another non-200 → kPermissionDenied, each with the
// OAuth error code and description when the body has them; a 200 that is not a token →
// kInvalidArgument. Messages start with the account and name the endpoint; what the
// endpoint echoes of the assertion, refresh token or client secret is redacted.

}  // namespace ccrelay::controlplane::gcp
