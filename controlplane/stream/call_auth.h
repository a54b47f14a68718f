#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "dataplane/common/secret.h"

namespace grpc {
class ServerContextBase;
}

namespace ccrelay::controlplane {

// Who a management call comes from (SPEC.md "Management roles").
enum class Role {
  kAdmin,     // the shared token (--token-file), or anyone when no token is configured
  kReadOnly,  // the read-only token (--read-only-token-file)
  kUser,      // an enabled teammate's relay key
};
// "admin" | "read-only" | "user" (WhoAmIResponse.role).
std::string_view RoleName(Role role);

struct Caller {
  Role role = Role::kAdmin;
  std::string user;  // for kUser
};

// What a management RPC needs of its caller.
enum class Access {
  kWrite,  // admin only
  kRead,   // admin or read-only
  kSelf,   // anyone identified, a relay key included (WhoAmI, GetUsage: a user sees its own)
};

// The role decision: OK, or PERMISSION_DENIED naming the RPC and what the role may call.
absl::Status Permit(const Caller& caller, Access access, std::string_view rpc);

// The hex-free raw SHA-256 (32 bytes) of a presented relay key, and whether a user with that
// key is enabled. nullopt: no user has that key.
struct KeyOwner {
  std::string user;
  bool enabled = false;
};
using UserKeyLookup = std::function<std::optional<KeyOwner>(std::string_view key_sha256)>;

// The token checks on every gRPC call (DataPlaneSync and Management). With an admin token, a
// call must carry `authorization: Bearer <token>` (compared in constant time) or it is refused
// with UNAUTHENTICATED. The in-process channel (cc-relay serve) carries the admin token itself
// (ControlPlane::InProcessChannel adds it), so it goes through the same check.
class CallAuthenticator {
 public:
  CallAuthenticator() = default;  // no token: every call is allowed (as admin)
  explicit CallAuthenticator(common::Secret admin_token,
                             std::optional<common::Secret> read_only_token = std::nullopt)
      : admin_(std::move(admin_token)), read_only_(std::move(read_only_token)) {}

  // Relay keys (teammates): looked up by SHA-256. Set before the server starts.
  void SetUserLookup(UserKeyLookup lookup) { users_ = std::move(lookup); }

  // The admin token only (DataPlaneSync: data planes use the admin token).
  absl::Status Check(const grpc::ServerContextBase& context) const;
  // The caller's role. Without tokens configured, a bearer that is an enabled relay key is that
  // user (so `cc-relayctl usage` with a relay key shows its own usage); anything else is admin.
  absl::StatusOr<Caller> Identify(const grpc::ServerContextBase& context) const;
  // The same on the bearer value itself (nullopt: no authorization metadata). For tests.
  absl::StatusOr<Caller> IdentifyBearer(std::optional<std::string_view> bearer) const;

  bool enabled() const { return admin_.has_value(); }
  bool read_only_enabled() const { return read_only_.has_value(); }

 private:
  // The user whose enabled relay key `presented` is; an error for a disabled one; nullopt for
  // none.
  absl::StatusOr<std::optional<std::string>> RelayKeyUser(std::string_view presented) const;

  std::optional<common::Secret> admin_;
  std::optional<common::Secret> read_only_;
  UserKeyLookup users_;
};

// The token: the first line of the file, surrounding whitespace trimmed; an empty one is an
// error.
absl::StatusOr<common::Secret> ReadTokenFile(const std::string& path);

}  // namespace ccrelay::controlplane
