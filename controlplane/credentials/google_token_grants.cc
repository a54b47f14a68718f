#include "controlplane/credentials/google_token_grants.h"

#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/google_jwt.h"
#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::gcp {
namespace {

using common::StrCat;

constexpr size_t kMaxDetailChars = 300;

std::string StringField(const nlohmann::json& j, const char* name) {
  const auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// What an error body says: OAuth's {"error": "code", "error_description": "..."} or Google's
// {"error": {"code": 400, "message": "...", "status": "..."}}; "" for anything else (an HTML
// page is not worth quoting).
std::string ErrorDetail(const std::string& body) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return "";
  }
  std::string detail;
  if (const auto it = j.find("error"); it != j.end() && it->is_object()) {
    const std::string status = StringField(*it, "status");
    const std::string message = StringField(*it, "message");
    detail = status.empty() || message.empty() ? status + message : StrCat(status, ": ", message);
  } else {
    const std::string code = StringField(j, "error");
    const std::string description = StringField(j, "error_description");
    detail =
        code.empty() || description.empty() ? code + description : StrCat(code, ": ", description);
  }
  if (detail.size() > kMaxDetailChars) {
    detail.resize(kMaxDetailChars);
    detail += "...";
  }
  return detail;
}

// The answer with `secrets` redacted in every JSON string (after unescaping: "1\/\/x" is "1//x"),
// before anything is parsed from it or cut short for a message.
std::string RedactedBody(const std::string& body, std::initializer_list<std::string_view> secrets) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return aws::Redact(body, secrets);
  }
  std::vector<nlohmann::json*> pending = {&j};
  while (!pending.empty()) {
    nlohmann::json* v = pending.back();
    pending.pop_back();
    if (v->is_string()) {
      *v = aws::Redact(v->get<std::string>(), secrets);
    } else if (v->is_structured()) {
      for (auto& child : *v) {
        pending.push_back(&child);
      }
    }
  }
  return j.dump();
}

// POSTs the form to the token endpoint and reads the token. `what` prefixes every message;
// `secrets` are redacted from whatever the endpoint or the transport says.
absl::StatusOr<credentials::OAuthToken> PostGrant(const TokenGrantRequest& request,
                                                  std::string form, const common::Clock& clock,
                                                  const std::string& what,
                                                  std::initializer_list<std::string_view> secrets) {
  aws::HttpFetchRequest fetch;
  fetch.method = "POST";
  fetch.url = request.endpoint;
  fetch.timeouts = request.timeouts;
  fetch.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"Accept", "application/json"}};
  fetch.body = std::move(form);
  const int64_t now_ms = clock.UnixMillis();
  auto response = aws::HttpFetch(fetch);
  if (!response.ok()) {
    return absl::Status(response.status().code(),
                        aws::Redact(StrCat(what, ": ", response.status().message()), secrets));
  }
  const std::string where =
      StrCat(what, ": token endpoint ", aws::UrlForMessages(request.endpoint));
  const std::string body = RedactedBody(response->body, secrets);
  if (response->status != 200) {
    const std::string detail = ErrorDetail(body);
    std::string line =
        StrCat(where, " answered HTTP ", response->status, detail.empty() ? "" : " ", detail);
    if (response->status == 429 || response->status >= 500) {
      return absl::UnavailableError(std::move(line));
    }
    return absl::PermissionDeniedError(std::move(line));
  }
  return credentials::ParseOAuthTokenResponse(body, now_ms, where);
}

}  // namespace

absl::StatusOr<credentials::OAuthToken> FetchServiceAccountToken(const ServiceAccountKey& key,
                                                                 const TokenGrantRequest& request,
                                                                 const common::Clock& clock) {
  const std::string what = StrCat("service account ", key.client_email);
  auto jwt =
      BuildServiceAccountJwt(key, request.endpoint, request.scope, clock.UnixMillis() / 1000);
  if (!jwt.ok()) {
    return jwt.status();
  }
  std::string form =
      StrCat("grant_type=", aws::FormEncode("urn:ietf:params:oauth:grant-type:jwt-bearer"),
             "&assertion=", aws::FormEncode(*jwt));
  ASSIGN_OR_RETURN(credentials::OAuthToken token,
                   PostGrant(request, std::move(form), clock, what, {*jwt}));
  token.source = what;
  return token;
}

absl::StatusOr<credentials::OAuthToken> FetchAuthorizedUserToken(const AuthorizedUser& user,
                                                                 const TokenGrantRequest& request,
                                                                 const common::Clock& clock) {
  constexpr size_t kShownClientIdChars = 12;
  const std::string client = user.client_id.size() > kShownClientIdChars
                                 ? StrCat(user.client_id.substr(0, kShownClientIdChars), "...")
                                 : user.client_id;
  const std::string what = StrCat("authorized user (client ", client, ")");
  // An endpoint may echo what it was sent, decoded or as sent.
  const std::string encoded_secret = aws::FormEncode(user.client_secret.Reveal());
  const std::string encoded_refresh_token = aws::FormEncode(user.refresh_token.Reveal());
  std::string form =
      StrCat("grant_type=refresh_token&client_id=", aws::FormEncode(user.client_id),
             "&client_secret=", encoded_secret, "&refresh_token=", encoded_refresh_token);
  ASSIGN_OR_RETURN(credentials::OAuthToken token,
                   PostGrant(request, std::move(form), clock, what,
                             {user.client_secret.Reveal(), user.refresh_token.Reveal(),
                              encoded_secret, encoded_refresh_token}));
  token.source = what;
  return token;
}

}  // namespace ccrelay::controlplane::gcp
