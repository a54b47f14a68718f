#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "controlplane/credentials/google_credentials_file.h"

namespace ccrelay::controlplane::gcp {

// A service account's lifetime limit for an assertion (Google refuses exp - iat > 3600).
inline constexpr int64_t kJwtLifetimeSeconds = 3600;

// The assertion of the OAuth 2.0 JWT bearer grant (RFC 7523) as Google's token endpoint takes it,
// signed RS256 with the service account's private key (OpenSSL EVP; PKCS#8 or PKCS#1 PEM):
//   header {"alg":"RS256","kid":private_key_id,"typ":"JWT"} (no kid when private_key_id is "")
//   claims {"aud":audience,"exp":now+3600,"iat":now,"iss":client_email,"scope":scope}
// base64url without padding, "header.claims.signature". kInvalidArgument when the private key
// is not a PEM RSA private key (an encrypted key counts as not one: nothing is prompted); the
// message names the account, never the key. The result is a credential: never log it.
absl::StatusOr<std::string> BuildServiceAccountJwt(const ServiceAccountKey& key,
                                                   std::string_view audience,
                                                   std::string_view scope, int64_t now_unix_s);

}  // namespace ccrelay::controlplane::gcp
