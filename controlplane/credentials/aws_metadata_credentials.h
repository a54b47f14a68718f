#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/http_fetch.h"

namespace ccrelay::controlplane::aws {

// Metadata endpoints are link-local: fail fast where there is none (a laptop).
inline constexpr HttpTimeouts kMetadataTimeouts{std::chrono::milliseconds(1000),
                                                std::chrono::milliseconds(2000)};

// The container credentials endpoint (ECS task role, EKS Pod Identity): GET `url` with
// `authorization` (if not empty) in Authorization; JSON {AccessKeyId, SecretAccessKey, Token,
// Expiration}. Errors name the URL (no query) and the status, never the authorization.
struct ContainerRequest {
  std::string url;
  std::string authorization;
  HttpTimeouts timeouts = kMetadataTimeouts;
};
absl::StatusOr<AwsCredentials> FetchContainerCredentials(const ContainerRequest& request);

// An http:// container URL must point at a loopback address or at the ECS (169.254.170.2) or
// EKS (169.254.170.23, fd00:ec2::23) agents, as in the SDKs; https:// may go anywhere.
absl::Status CheckContainerUrl(const std::string& url);

// EC2 instance metadata, IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds:
// 21600), then with X-aws-ec2-metadata-token: GET /latest/meta-data/iam/security-credentials/
// (the role: first line), GET …/security-credentials/<role> (JSON with Code "Success").
// kNotFound means "no credentials here": the service is unreachable (connect failure or
// timeout), refuses a token, or the instance has no role. Other failures are errors.
absl::StatusOr<AwsCredentials> FetchInstanceMetadataCredentials(
    const std::string& endpoint, const HttpTimeouts& timeouts = kMetadataTimeouts);

// The JSON both endpoints answer. `what` prefixes errors ("container endpoint http://…").
absl::StatusOr<AwsCredentials> ParseMetadataCredentials(std::string_view body,
                                                        std::string_view what);

}  // namespace ccrelay::controlplane::aws
