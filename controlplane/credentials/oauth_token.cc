#include "controlplane/credentials/oauth_token.h"

#include <charconv>
#include <string>

#include <nlohmann/json.hpp>

#include "dataplane/common/str.h"

namespace ccrelay::controlplane::credentials {

namespace {

using common::StrCat;

// A JSON number or a numeric string as an integer (token endpoints send both).
bool IntegerField(const nlohmann::json& j, const char* name, int64_t* out) {
  const auto it = j.find(name);
  if (it == j.end()) {
    return false;
  }
  if (it->is_number_integer() || it->is_number_unsigned()) {
    *out = it->get<int64_t>();
    return true;
  }
  if (it->is_number_float()) {
    *out = static_cast<int64_t>(it->get<double>());
    return true;
  }
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && ptr == s.data() + s.size();
  }
  return false;
}

std::string StringField(const nlohmann::json& j, const char* name) {
  const auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

absl::StatusOr<OAuthToken> ParseOAuthTokenResponse(std::string_view body, int64_t now_unix_ms,
                                                   std::string_view what) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(StrCat(what, ": the token response is not a JSON object"));
  }
  if (const std::string error = StringField(j, "error"); !error.empty()) {
    std::string description = StringField(j, "error_description");
    if (description.size() > 300) {
      description.resize(300);
    }
    return absl::PermissionDeniedError(StrCat(
        what, ": ", error, description.empty() ? std::string() : StrCat(": ", description)));
  }
  std::string token = StringField(j, "access_token");
  if (token.empty()) {
    return absl::InvalidArgumentError(StrCat(what, ": the token response has no access_token"));
  }
  if (const std::string type = StringField(j, "token_type");
      !type.empty() && type != "Bearer" && type != "bearer") {
    return absl::InvalidArgumentError(
        StrCat(what, ": token_type ", type.substr(0, 40), " is not Bearer"));
  }
  OAuthToken out;
  out.access_token = common::Secret(std::move(token));
  int64_t value = 0;
  if (IntegerField(j, "expires_on", &value) && value > 0) {
    out.expires_unix_ms = value * 1000;
  } else if (IntegerField(j, "expires_in", &value)) {
    if (value <= 0) {
      return absl::InvalidArgumentError(StrCat(what, ": expires_in is not positive"));
    }
    out.expires_unix_ms = now_unix_ms + value * 1000;
  }
  return out;
}

}  // namespace ccrelay::controlplane::credentials
