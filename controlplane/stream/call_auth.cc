#include "controlplane/stream/call_auth.h"

#include <fstream>

#include "controlplane/management/relay_keys.h"
#include "dataplane/common/str.h"
#include "grpcpp/server_context.h"

namespace ccrelay::controlplane {
namespace {

using common::StrCat;

// The Bearer value of the call's authorization metadata: nullopt without the metadata, an
// error when it is not a Bearer token.
absl::StatusOr<std::optional<std::string_view>> BearerOf(const grpc::ServerContextBase& context) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return std::optional<std::string_view>();
  }
  std::string_view value(it->second.data(), it->second.size());
  if (!common::StartsWithIgnoreCase(value, "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata is not a Bearer token");
  }
  value.remove_prefix(7);
  return std::optional<std::string_view>(common::StripWhitespace(value));
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kReadOnly:
      return "read-only";
    case Role::kUser:
      return "user";
  }
  return "admin";
}

absl::Status Permit(const Caller& caller, Access access, std::string_view rpc) {
  switch (caller.role) {
    case Role::kAdmin:
      return absl::OkStatus();
    case Role::kReadOnly:
      if (access == Access::kWrite) {
        return absl::PermissionDeniedError(
            StrCat("the read-only token may not call ", rpc,
                   ": it changes the relay (admin token only); read-only may list, get, watch, "
                   "show and validate"));
      }
      return absl::OkStatus();
    case Role::kUser:
      if (access != Access::kSelf) {
        return absl::PermissionDeniedError(
            StrCat("a relay key (user ", caller.user, ") may not call ", rpc,
                   ": a relay key may call only WhoAmI and GetUsage (its own usage)"));
      }
      return absl::OkStatus();
  }
  return absl::PermissionDeniedError(StrCat("may not call ", rpc));
}

absl::StatusOr<std::optional<std::string>> CallAuthenticator::RelayKeyUser(
    std::string_view presented) const {
  if (!users_ || !LooksLikeRelayKey(presented)) {
    return std::optional<std::string>();
  }
  std::optional<KeyOwner> owner = users_(RelayKeySha256(presented));
  if (!owner.has_value()) {
    return std::optional<std::string>();
  }
  if (!owner->enabled) {
    return absl::UnauthenticatedError(StrCat("relay key disabled (user ", owner->user, ")"));
  }
  return std::optional<std::string>(owner->user);
}

absl::Status CallAuthenticator::Check(const grpc::ServerContextBase& context) const {
  if (!admin_.has_value()) {
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<std::string_view>> bearer = BearerOf(context);
  if (!bearer.ok()) {
    return bearer.status();
  }
  if (!bearer->has_value()) {
    return absl::UnauthenticatedError("missing authorization metadata (Bearer token)");
  }
  if (!admin_->Matches(**bearer)) {
    return absl::UnauthenticatedError("invalid token");
  }
  return absl::OkStatus();
}

absl::StatusOr<Caller> CallAuthenticator::Identify(const grpc::ServerContextBase& context) const {
  absl::StatusOr<std::optional<std::string_view>> bearer = BearerOf(context);
  if (!bearer.ok()) {
    if (!admin_.has_value()) {
      return Caller{};  // no token configured: whatever is sent, the caller is admin
    }
    return bearer.status();
  }
  return IdentifyBearer(*bearer);
}

absl::StatusOr<Caller> CallAuthenticator::IdentifyBearer(
    std::optional<std::string_view> bearer) const {
  if (!admin_.has_value()) {
    // No token configured (loopback): everyone is admin, except a relay key, which stands for
    // its user (a disabled one is refused).
    if (bearer.has_value()) {
      absl::StatusOr<std::optional<std::string>> user = RelayKeyUser(*bearer);
      if (!user.ok()) {
        return user.status();
      }
      if (user->has_value()) {
        return Caller{Role::kUser, **user};
      }
    }
    return Caller{};
  }
  if (!bearer.has_value()) {
    return absl::UnauthenticatedError("missing authorization metadata (Bearer token)");
  }
  // Every comparison runs (constant time, no early exit on the token that matched).
  const bool admin = admin_->Matches(*bearer);
  const bool read_only = read_only_.has_value() && read_only_->Matches(*bearer);
  if (admin) {
    return Caller{};
  }
  if (read_only) {
    return Caller{Role::kReadOnly, ""};
  }
  absl::StatusOr<std::optional<std::string>> user = RelayKeyUser(*bearer);
  if (!user.ok()) {
    return user.status();
  }
  if (user->has_value()) {
    return Caller{Role::kUser, **user};
  }
  return absl::UnauthenticatedError("invalid token");
}

absl::StatusOr<common::Secret> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(common::StrCat("token file ", path, ": cannot read"));
  }
  std::string line;
  std::getline(in, line);
  std::string_view token = common::StripWhitespace(line);
  while (!token.empty() && token.back() == '\r') {
    token.remove_suffix(1);
  }
  if (token.empty()) {
    return absl::InvalidArgumentError(
        common::StrCat("token file ", path, ": the first line is empty"));
  }
  return common::Secret(std::string(token));
}

}  // namespace ccrelay::controlplane
