#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

#include "controlplane/credentials/http_fetch.h"
#include "controlplane/credentials/oauth_token.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::gcp {

// The metadata server is link-local: fail fast where there is none (a laptop), but give a
// GKE metadata server, which may mint on demand, time to answer.
inline constexpr aws::HttpTimeouts kGoogleMetadataTimeouts{std::chrono::milliseconds(1000),
                                                           std::chrono::milliseconds(5000)};

// The default service account's token from a GCE / GKE / Cloud Run metadata server
// (protocols.md 4.4): GET {endpoint}/computeMetadata/v1/instance/service-accounts/default/token
// ?scopes={scope} with `Metadata-Flavor: Google`. The answer must carry `Metadata-Flavor: Google`
// too. Source "metadata server".
//
// kNotFound means "no Google metadata server here": unreachable (connect failure or timeout), an
// answer without the Metadata-Flavor header (something else listens there), or 404 (no service
// account). Other answers: 429 and 5xx → kUnavailable, other statuses → kPermissionDenied, a 200
// that is not a token → kInvalidArgument. Messages name the endpoint.
absl::StatusOr<credentials::OAuthToken> FetchMetadataServerToken(
    const std::string& endpoint, const std::string& scope, const common::Clock& clock,
    const aws::HttpTimeouts& timeouts = kGoogleMetadataTimeouts);

}  // namespace ccrelay::controlplane::gcp
