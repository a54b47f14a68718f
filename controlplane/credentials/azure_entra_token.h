#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "controlplane/credentials/http_fetch.h"
#include "controlplane/credentials/oauth_token.h"
#include "dataplane/common/clock.h"
#include "dataplane/common/secret.h"

namespace ccrelay::controlplane::azure {

inline constexpr std::string_view kDefaultAuthorityHost = "https://login.microsoftonline.com";
inline constexpr std::string_view kDefaultScope = "https://ai.azure.com/.default";
inline constexpr std::string_view kClientAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// A tenant id goes into the token URL's path: a GUID or a domain ("contoso.onmicrosoft.com"),
// i.e. 1 to 256 of [A-Za-z0-9.-] and not "." or "..". kInvalidArgument names `setting` and the
// value (a tenant id is no secret).
absl::Status CheckTenantId(std::string_view tenant_id, std::string_view setting);

// The authority host as a base URL without a trailing '/': "login.microsoftonline.us" becomes
// "https://login.microsoftonline.us". A client secret or a federated token travels to it, so
// http:// is refused except to a loopback address (tests). Errors name `setting`.
absl::StatusOr<std::string> NormalizeAuthorityHost(std::string_view host, std::string_view setting);

// One scope, as the client credentials grant needs it ("https://ai.azure.com/.default"): not
// empty, no whitespace. Errors name `setting`.
absl::Status CheckScope(std::string_view scope, std::string_view setting);

// The resource a managed identity token is asked for: the scope without "/.default".
std::string ScopeToResource(std::string_view scope);

// {authority}/{tenant}/oauth2/v2.0/token
std::string TokenEndpoint(std::string_view authority, std::string_view tenant_id);

// Microsoft Entra ID's client credentials grant (OAuth 2.0, RFC 6749 4.4) on TokenEndpoint():
// a form POST of grant_type=client_credentials, client_id, scope and either client_secret or
// (workload identity) client_assertion_type=jwt-bearer + client_assertion. Exactly one of
// `client_secret` and `client_assertion` is set.
struct ClientCredentialsRequest {
  std::string authority;  // NormalizeAuthorityHost()'s result
  std::string tenant_id;  // CheckTenantId()'d
  std::string client_id;
  common::Secret client_secret;
  common::Secret client_assertion;
  std::string scope;
  aws::HttpTimeouts timeouts{std::chrono::milliseconds(3000), std::chrono::milliseconds(10000)};
};

// Returns the token (its `source` left empty for the caller). Errors name the token endpoint
// (no query) and carry Entra's error and description (with its AADSTS code), never the secret
// or the assertion, redacted should Entra echo them. Entra's 4xx are kPermissionDenied, its 5xx
// and 429 kUnavailable; no connection keeps HttpFetch's code (kUnavailable, kDeadlineExceeded);
// a 200 without a usable token is kDataLoss.
absl::StatusOr<credentials::OAuthToken> RequestClientCredentialsToken(
    const ClientCredentialsRequest& request, const common::Clock& clock);

// "<what>: HTTP <status>: <error>: <error_description>" of a refusal with an OAuth error body
// ({"error", "error_description"}, as Entra and IMDS send it), "<what>: HTTP <status>" for any
// other body; on one line. Callers redact what they sent.
std::string RefusalMessage(std::string_view what, int status, const std::string& body);

// Replaces each run of control characters (Entra's descriptions end with "\r\nTrace ID: …") by
// one space, for one-line messages.
std::string OneLine(std::string text);

}  // namespace ccrelay::controlplane::azure
