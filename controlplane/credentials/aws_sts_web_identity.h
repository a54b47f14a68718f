#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/http_fetch.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::aws {

struct WebIdentityRequest {
  std::string role_arn;
  std::string token_file;    // read at every call (Kubernetes rotates it)
  std::string session_name;  // "" → "cc-relay-<unix seconds>"
  std::string sts_endpoint;  // "https://sts.us-east-1.amazonaws.com" (a path is kept)
  HttpTimeouts timeouts{std::chrono::milliseconds(3000), std::chrono::milliseconds(10000)};
};

// STS AssumeRoleWithWebIdentity: an unsigned form POST
// (Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=…&RoleSessionName=…&
// WebIdentityToken=…), answered in XML. Returns the credentials with their expiry; `kind` and
// `source` are left for the caller. Errors name the role, the token file and the STS error code
// and message; never the token (redacted should STS echo it). STS refusals (4xx) are
// kPermissionDenied, its 5xx and throttling kUnavailable.
absl::StatusOr<AwsCredentials> AssumeRoleWithWebIdentity(const WebIdentityRequest& request,
                                                         const common::Clock& clock);

// The text of the first <name>…</name> element in `xml` (entities decoded), nullopt if absent.
// Enough for STS answers, which have no attributes, CDATA or nesting of the same name.
std::optional<std::string> XmlElementText(std::string_view xml, std::string_view name);

}  // namespace ccrelay::controlplane::aws
