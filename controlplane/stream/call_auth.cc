#include "controlplane/stream/call_auth.h"

#include <fstream>

#include "dataplane/common/str.h"
#include "grpcpp/server_context.h"

namespace ccrelay::controlplane {

absl::Status CallAuthenticator::Check(const grpc::ServerContextBase& context) const {
  if (!token_.has_value()) {
    return absl::OkStatus();
  }
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return absl::UnauthenticatedError("missing authorization metadata (Bearer token)");
  }
  std::string_view value(it->second.data(), it->second.size());
  if (!common::StartsWithIgnoreCase(value, "bearer ")) {
    return absl::UnauthenticatedError("authorization metadata is not a Bearer token");
  }
  value.remove_prefix(7);
  if (!token_->Matches(common::StripWhitespace(value))) {
    return absl::UnauthenticatedError("invalid token");
  }
  return absl::OkStatus();
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
