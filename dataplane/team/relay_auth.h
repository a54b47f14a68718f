#pragma once

#include <string>
#include <string_view>

#include "dataplane/auth/authenticator.h"
#include "dataplane/common/secret.h"
#include "dataplane/routing/routing_table.h"

namespace ccrelay::team {

// Relay keys begin with it ("ccr_" + 43 characters of base64url).
inline constexpr std::string_view kRelayKeyPrefix = "ccr_";

using common::RelayKeySha256;

// What the relay keys of a snapshot say about one request (SPEC.md "Relay keys on the data
// plane").
struct RelayKeyAuth {
  enum class Result {
    kNone,     // no relay key presented and none required: server.auth decides
    kOk,       // a valid relay key: `user`
    kRefused,  // 401 with `message` (never the key)
  };
  Result result = Result::kNone;
  const routing::CompiledUser* user = nullptr;  // kOk; also kRefused for a disabled key
  // How the client's own credentials are passed on (kOk): the relay key's header is dropped, a
  // subscription bearer next to Users.key_header passes through to a passthrough provider.
  auth::AuthMethod method = auth::AuthMethod::kOpen;
  std::string message;
};

// The relay key is taken from Users.key_header (`key_header_value`), else from x-api-key or an
// Authorization bearer starting with "ccr_". It is hashed and looked up; the stored digest is
// compared again with CRYPTO_memcmp.
RelayKeyAuth AuthenticateRelayKey(const routing::RelayUsers& users,
                                  std::string_view key_header_value, std::string_view x_api_key,
                                  std::string_view authorization);

}  // namespace ccrelay::team
