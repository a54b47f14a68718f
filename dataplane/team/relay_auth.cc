#include "dataplane/team/relay_auth.h"

#include <openssl/crypto.h>

#include "absl/strings/string_view.h"

#include "dataplane/common/str.h"

namespace ccrelay::team {

RelayKeyAuth AuthenticateRelayKey(const routing::RelayUsers& users,
                                  std::string_view key_header_value, std::string_view x_api_key,
                                  std::string_view authorization) {
  RelayKeyAuth out;
  // Also without users: a relay key (its header, or the "ccr_" prefix) that matches no user is
  // refused, never passed on as an anonymous request (a removed teammate's key, also the last).
  const std::string_view bearer = auth::BearerToken(authorization);
  std::string_view key;
  if (!key_header_value.empty()) {
    key = key_header_value;
    // Claude Code's custom-header form: Authorization (if any) is the teammate's subscription.
    out.method = auth::AuthMethod::kSubscription;
  } else if (x_api_key.starts_with(kRelayKeyPrefix)) {
    key = x_api_key;
    out.method = auth::AuthMethod::kApiKey;
  } else if (bearer.starts_with(kRelayKeyPrefix)) {
    key = bearer;
    out.method = auth::AuthMethod::kBearer;
  }
  if (key.empty()) {
    if (!users.required) {
      return out;  // server.auth decides (an anonymous request)
    }
    out.result = RelayKeyAuth::Result::kRefused;
    out.message = !x_api_key.empty() || !bearer.empty()
                      ? std::string("invalid relay key")
                      : common::StrCat("missing relay key (x-api-key, Authorization: Bearer or ",
                                       users.key_header, " header)");
    return out;
  }
  // Hashed into the stack (no allocation per request); the map looks a string_view up.
  const auto raw = common::Sha256(key);
  const std::string_view digest(reinterpret_cast<const char*>(raw.data()), raw.size());
  const auto it = users.by_key_sha256.find(absl::string_view(digest.data(), digest.size()));
  if (it == users.by_key_sha256.end() || it->second.key_sha256.size() != digest.size() ||
      CRYPTO_memcmp(it->second.key_sha256.data(), digest.data(), digest.size()) != 0) {
    out.result = RelayKeyAuth::Result::kRefused;
    out.message = "invalid relay key";
    return out;
  }
  out.user = &it->second;
  if (!it->second.enabled) {
    out.result = RelayKeyAuth::Result::kRefused;
    out.message = "relay key disabled";
    return out;
  }
  out.result = RelayKeyAuth::Result::kOk;
  return out;
}

}  // namespace ccrelay::team
