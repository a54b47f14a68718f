#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "dataplane/common/secret.h"

namespace grpc {
class ServerContextBase;
}

namespace ccrelay::controlplane {

// The shared-token check on every gRPC call (DataPlaneSync and Management): with a token, a
// call must carry the metadata `authorization: Bearer <token>` (compared in constant time) or it
// is refused with UNAUTHENTICATED. The in-process channel (cc-relay serve) carries the token
// itself (ControlPlane::InProcessChannel adds it), so it goes through the same check.
class CallAuthenticator {
 public:
  CallAuthenticator() = default;  // no token: every call is allowed
  explicit CallAuthenticator(common::Secret token) : token_(std::move(token)) {}

  absl::Status Check(const grpc::ServerContextBase& context) const;
  bool enabled() const { return token_.has_value(); }

 private:
  std::optional<common::Secret> token_;
};

// The token: the first line of the file, surrounding whitespace trimmed; an empty one is an
// error.
absl::StatusOr<common::Secret> ReadTokenFile(const std::string& path);

}  // namespace ccrelay::controlplane
