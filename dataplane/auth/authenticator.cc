#include "dataplane/auth/authenticator.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace ccrelay::auth {

namespace {

constexpr std::string_view kBearerScheme = "bearer";

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// absl::EqualsIgnoreCase takes absl::string_view, which is not std::string_view in this Abseil.
bool EqualsAsciiIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && IsSpace(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

AuthResult Accept(AuthMethod method) { return AuthResult{true, method, ""}; }

AuthResult Reject(std::string message) {
  return AuthResult{false, AuthMethod::kOpen, std::move(message)};
}

}  // namespace

std::string_view BearerToken(std::string_view authorization) {
  std::string_view value = TrimSpaces(authorization);
  if (value.size() <= kBearerScheme.size() ||
      !EqualsAsciiIgnoreCase(value.substr(0, kBearerScheme.size()), kBearerScheme) ||
      !IsSpace(value[kBearerScheme.size()])) {
    return {};
  }
  return TrimSpaces(value.substr(kBearerScheme.size()));
}

AuthResult Authenticate(const AuthSettings& settings, std::string_view x_api_key,
                        std::string_view authorization) {
  if (settings.open()) {
    return Accept(AuthMethod::kOpen);
  }
  const std::string_view token = BearerToken(authorization);
  const bool api_key_on = !settings.api_key.empty();
  const bool bearer_on = settings.allow_subscription || settings.allow_bearer;

  // The order of seed-README.md: api_key, subscription, bearer; the first that accepts wins.
  if (api_key_on && !x_api_key.empty() && settings.api_key.Matches(x_api_key)) {
    return Accept(AuthMethod::kApiKey);
  }
  if (settings.allow_subscription && !token.empty()) {
    return Accept(AuthMethod::kSubscription);
  }
  if (settings.allow_bearer && !token.empty() &&
      (settings.bearer_secret.empty() || settings.bearer_secret.Matches(token))) {
    return Accept(AuthMethod::kBearer);
  }

  // Rejected: say which credential was wrong or missing, never echoing what was presented.
  const bool api_key_presented = api_key_on && !x_api_key.empty();
  const bool token_presented = bearer_on && !token.empty();
  if (api_key_presented && token_presented) {
    return Reject("invalid x-api-key and bearer token");
  }
  if (api_key_presented) {
    return Reject("invalid x-api-key");
  }
  if (token_presented) {
    return Reject("invalid bearer token");
  }
  if (api_key_on && bearer_on) {
    return Reject("missing x-api-key header or Authorization bearer token");
  }
  if (api_key_on) {
    return Reject("missing x-api-key header");
  }
  return Reject("missing Authorization bearer token");
}

}  // namespace ccrelay::auth
