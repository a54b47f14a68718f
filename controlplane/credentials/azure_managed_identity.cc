#include "controlplane/credentials/azure_managed_identity.h"

#include <utility>

#include "controlplane/credentials/azure_entra_token.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::azure {
namespace {

using common::StrCat;

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') {
    s.pop_back();
  }
  return s;
}

}  // namespace

absl::StatusOr<credentials::OAuthToken> RequestManagedIdentityToken(
    const ManagedIdentityRequest& request, const common::Clock& clock) {
  const std::string base = TrimSlash(request.imds_endpoint);
  const std::string url = StrCat(base, "/metadata/identity/oauth2/token");
  const std::string what = StrCat("IMDS ", url);
  aws::HttpFetchRequest fetch;
  fetch.url = StrCat(url, "?api-version=", kImdsApiVersion,
                     "&resource=", aws::FormEncode(request.resource));
  if (!request.client_id.empty()) {
    common::StrAppend(&fetch.url, "&client_id=", aws::FormEncode(request.client_id));
  }
  fetch.timeouts = request.timeouts;
  fetch.headers = {{"Metadata", "true"}, {"Accept", "application/json"}};
  auto response = aws::HttpFetch(fetch);
  if (!response.ok()) {
    if (absl::IsUnavailable(response.status()) || absl::IsDeadlineExceeded(response.status())) {
      return absl::NotFoundError(StrCat("IMDS unreachable (", response.status().message(), ")"));
    }
    return response.status();
  }
  const int status = response->status;
  if (status == 200) {
    auto token = credentials::ParseOAuthTokenResponse(response->body, clock.UnixMillis(), what);
    if (!token.ok()) {
      return absl::DataLossError(OneLine(std::string(token.status().message())));
    }
    return token;
  }
  const std::string refusal = RefusalMessage(what, status, response->body);
  if (status == 400) {
    // IMDS's answer when the resource has no managed identity, or not the one asked for.
    return absl::NotFoundError(StrCat(
        refusal, request.client_id.empty() ? " (no system-assigned identity on this resource?)"
                                           : StrCat(" (is identity ", request.client_id,
                                                    " assigned to this resource?)")));
  }
  if (status >= 500 || status == 429 || status == 404 || status == 410) {
    return absl::UnavailableError(refusal);
  }
  return absl::PermissionDeniedError(refusal);
}

}  // namespace ccrelay::controlplane::azure
