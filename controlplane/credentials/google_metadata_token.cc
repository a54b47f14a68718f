#include "controlplane/credentials/google_metadata_token.h"

#include <utility>

#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::gcp {
namespace {

using common::StrCat;

constexpr char kTokenPath[] = "/computeMetadata/v1/instance/service-accounts/default/token";

}  // namespace

absl::StatusOr<credentials::OAuthToken> FetchMetadataServerToken(
    const std::string& endpoint, const std::string& scope, const common::Clock& clock,
    const aws::HttpTimeouts& timeouts) {
  std::string base = endpoint;
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  const std::string what = StrCat("metadata server ", base);
  aws::HttpFetchRequest fetch;
  fetch.url = StrCat(base, kTokenPath, "?scopes=", aws::FormEncode(scope));
  fetch.timeouts = timeouts;
  fetch.headers = {{"Metadata-Flavor", "Google"}, {"Accept", "application/json"}};
  const int64_t now_ms = clock.UnixMillis();
  auto response = aws::HttpFetch(fetch);
  if (!response.ok()) {
    if (absl::IsUnavailable(response.status()) || absl::IsDeadlineExceeded(response.status())) {
      return absl::NotFoundError(StrCat(what, " unreachable (", response.status().message(), ")"));
    }
    return absl::Status(response.status().code(), StrCat(what, ": ", response.status().message()));
  }
  const std::string* flavor = response->Header("Metadata-Flavor");
  if (flavor == nullptr || *flavor != "Google") {
    return absl::NotFoundError(
        StrCat(what, " answered HTTP ", response->status,
               " without \"Metadata-Flavor: Google\": not a Google metadata server"));
  }
  if (response->status == 404) {
    return absl::NotFoundError(StrCat(what, ": no default service account (HTTP 404)"));
  }
  if (response->status != 200) {
    const std::string line = StrCat(what, ": ", kTokenPath, " answered HTTP ", response->status);
    if (response->status == 429 || response->status >= 500) {
      return absl::UnavailableError(line);
    }
    return absl::PermissionDeniedError(line);
  }
  ASSIGN_OR_RETURN(credentials::OAuthToken token,
                   credentials::ParseOAuthTokenResponse(response->body, now_ms, what));
  token.source = "metadata server";
  return token;
}

}  // namespace ccrelay::controlplane::gcp
