#include "controlplane/credentials/azure_entra_token.h"

#include <utility>

#include "controlplane/credentials/aws_credentials.h"
#include "dataplane/common/str.h"
#include "dataplane/upstream/upstream_url.h"

namespace ccrelay::controlplane::azure {
namespace {

using common::StrCat;

constexpr size_t kMaxTenantIdChars = 256;

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host.starts_with("127.") || host == "::1";
}

}  // namespace

absl::Status CheckTenantId(std::string_view tenant_id, std::string_view setting) {
  const auto invalid = [&](std::string_view why) {
    // Shown in full only when it is short and printable; it is no secret.
    const bool printable = tenant_id.size() <= kMaxTenantIdChars &&
                           tenant_id.find_first_of("\r\n\t") == std::string_view::npos;
    return absl::InvalidArgumentError(StrCat(setting, " \"",
                                             printable ? tenant_id : std::string_view("…"),
                                             "\" is not a tenant id: ", why));
  };
  if (tenant_id.empty()) {
    return absl::InvalidArgumentError(StrCat(setting, " is empty"));
  }
  if (tenant_id.size() > kMaxTenantIdChars) {
    return invalid("longer than 256 characters");
  }
  for (const char c : tenant_id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) {
      return invalid("expected a GUID or a domain name (letters, digits, '-' and '.' only)");
    }
  }
  if (tenant_id == "." || tenant_id == "..") {
    return invalid("expected a GUID or a domain name");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeAuthorityHost(std::string_view host,
                                                   std::string_view setting) {
  std::string url(common::StripWhitespace(host));
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  if (url.empty()) {
    return absl::InvalidArgumentError(StrCat(setting, " is empty"));
  }
  if (url.find("://") == std::string::npos) {
    url = StrCat("https://", url);
  }
  auto parsed = upstream::ParseUpstreamUrl(url);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        StrCat(setting, " \"", aws::UrlForMessages(url), "\": ", parsed.status().message()));
  }
  if (!parsed->tls && !IsLoopbackHost(parsed->host)) {
    return absl::InvalidArgumentError(
        StrCat(setting, " \"", aws::UrlForMessages(url),
               "\": must be https:// (http:// only to a loopback address)"));
  }
  return url;
}

absl::Status CheckScope(std::string_view scope, std::string_view setting) {
  if (scope.empty()) {
    return absl::InvalidArgumentError(StrCat(setting, " is empty"));
  }
  for (const char c : scope) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(
          StrCat(setting, ": one scope without whitespace, e.g. ", kDefaultScope));
    }
  }
  return absl::OkStatus();
}

std::string ScopeToResource(std::string_view scope) {
  common::ConsumeSuffix(&scope, "/.default");
  return std::string(scope);
}

std::string TokenEndpoint(std::string_view authority, std::string_view tenant_id) {
  return StrCat(authority, "/", tenant_id, "/oauth2/v2.0/token");
}

std::string OneLine(std::string text) {
  std::string out;
  out.reserve(text.size());
  bool in_run = false;
  for (const char c : text) {
    const bool control = static_cast<unsigned char>(c) < ' ' || c == 0x7f;
    if (!control) {
      out.push_back(c);
    } else if (!in_run) {
      out.push_back(' ');
    }
    in_run = control;
  }
  return out;
}

std::string RefusalMessage(std::string_view what, int status, const std::string& body) {
  const std::string http = StrCat(what, ": HTTP ", status);
  auto parsed = credentials::ParseOAuthTokenResponse(body, 0, http);
  return OneLine(!parsed.ok() && absl::IsPermissionDenied(parsed.status())
                     ? std::string(parsed.status().message())
                     : http);
}

absl::StatusOr<credentials::OAuthToken> RequestClientCredentialsToken(
    const ClientCredentialsRequest& request, const common::Clock& clock) {
  const std::string url = TokenEndpoint(request.authority, request.tenant_id);
  const std::string what = StrCat("token endpoint ", aws::UrlForMessages(url));
  const std::string_view secret = request.client_secret.Reveal();
  const std::string_view assertion = request.client_assertion.Reveal();
  const auto clean = [&](std::string message) {
    return aws::Redact(OneLine(std::move(message)), {secret, assertion});
  };
  if (secret.empty() == assertion.empty()) {
    return absl::InvalidArgumentError(
        StrCat(what, ": exactly one of a client secret and a client assertion is needed"));
  }
  aws::HttpFetchRequest fetch;
  fetch.method = "POST";
  fetch.url = url;
  fetch.timeouts = request.timeouts;
  fetch.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"Accept", "application/json"}};
  fetch.body =
      StrCat("grant_type=client_credentials&client_id=", aws::FormEncode(request.client_id),
             "&scope=", aws::FormEncode(request.scope));
  if (!secret.empty()) {
    common::StrAppend(&fetch.body, "&client_secret=", aws::FormEncode(secret));
  } else {
    common::StrAppend(&fetch.body, "&client_assertion_type=", aws::FormEncode(kClientAssertionType),
                      "&client_assertion=", aws::FormEncode(assertion));
  }
  auto response = aws::HttpFetch(fetch);
  if (!response.ok()) {
    return absl::Status(response.status().code(), clean(std::string(response.status().message())));
  }
  if (response->status == 200) {
    auto token = credentials::ParseOAuthTokenResponse(response->body, clock.UnixMillis(), what);
    if (!token.ok()) {
      const absl::StatusCode code = absl::IsPermissionDenied(token.status())
                                        ? absl::StatusCode::kPermissionDenied
                                        : absl::StatusCode::kDataLoss;
      return absl::Status(code, clean(std::string(token.status().message())));
    }
    return token;
  }
  // Entra's error body: {"error", "error_description" ("AADSTS7000215: …"), "error_codes", …}.
  const std::string message = clean(RefusalMessage(what, response->status, response->body));
  if (response->status >= 500 || response->status == 429) {
    return absl::UnavailableError(message);
  }
  return absl::PermissionDeniedError(message);
}

}  // namespace ccrelay::controlplane::azure
