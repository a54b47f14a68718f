#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "controlplane/credentials/http_fetch.h"
#include "controlplane/credentials/oauth_token.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::azure {

inline constexpr std::string_view kDefaultImdsEndpoint = "http://169.254.169.254";
inline constexpr std::string_view kImdsApiVersion = "2018-02-01";

struct ManagedIdentityRequest {
  std::string imds_endpoint;  // "http://169.254.169.254" (a path is kept)
  std::string resource;       // ScopeToResource(scope): "https://ai.azure.com"
  std::string client_id;      // a user-assigned identity; "" = the system-assigned one
  // The service is link-local: fail fast where there is none; a token can take seconds to mint.
  aws::HttpTimeouts timeouts{std::chrono::milliseconds(1000), std::chrono::milliseconds(10000)};
};

// An access token of the Azure resource's managed identity from the instance metadata service
// (Azure VMs, VM scale sets, AKS nodes): GET {imds}/metadata/identity/oauth2/token?api-version=
// 2018-02-01&resource=…[&client_id=…] with `Metadata: true`. The answer's expires_in and
// expires_on are numeric strings (expires_on wins). `source` is left for the caller.
//
// kNotFound means "no managed identity here": the service is unreachable (no connection, or no
// answer within the timeouts), or it answered 400 (no identity assigned to this resource, or not
// the one `client_id` names). Other answers: 5xx, 429, 404 and 410 (IMDS busy or updating) are
// kUnavailable, other statuses kPermissionDenied, a 200 without a usable token kDataLoss. Errors
// name the endpoint (no query) and IMDS's error code and description.
//
// Not supported: the App Service / Azure Functions / Azure Arc / Service Fabric / Cloud Shell
// endpoints (IDENTITY_ENDPOINT + IDENTITY_HEADER, MSI_ENDPOINT): IMDS only.
absl::StatusOr<credentials::OAuthToken> RequestManagedIdentityToken(
    const ManagedIdentityRequest& request, const common::Clock& clock);

}  // namespace ccrelay::controlplane::azure
