#pragma once

#include <string>

#include "absl/status/statusor.h"

#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/aws_metadata_credentials.h"
#include "controlplane/credentials/http_fetch.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::aws {

// What the chain reads. Everything is injected so that tests point it at fakes.
struct AwsCredentialChainOptions {
  EnvLookup env;        // required: ProcessEnvironment() in production
  std::string profile;  // config `aws_profile`; "" → AWS_PROFILE → "default"
  std::string region;   // for the regional STS endpoint; "" → AWS_REGION → AWS_DEFAULT_REGION
  // "" → AWS_ENDPOINT_URL_STS → AWS_ENDPOINT_URL → https://sts.<region>.amazonaws.com
  // (https://sts.amazonaws.com without a region).
  std::string sts_endpoint;
  // "" → AWS_EC2_METADATA_SERVICE_ENDPOINT → http://169.254.169.254 (http://[fd00:ec2::254] with
  // AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6).
  std::string imds_endpoint;
  // Base of AWS_CONTAINER_CREDENTIALS_RELATIVE_URI; "" → http://169.254.170.2.
  std::string container_endpoint;
  const common::Clock* clock = nullptr;                // session names; RealClock when null
  HttpTimeouts metadata_timeouts = kMetadataTimeouts;  // container and IMDS
  HttpTimeouts sts_timeouts{std::chrono::milliseconds(3000), std::chrono::milliseconds(10000)};
};

// The AWS SDKs' default credential chain, reduced to what a server needs. Sources, in order;
// the first one that is configured wins, and if it then fails that is the answer (an error), as
// in the SDKs:
//   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY [+ AWS_SESSION_TOKEN]
//      [+ AWS_CREDENTIAL_EXPIRATION]; one key without the other is an error.
//   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN [+ AWS_ROLE_SESSION_NAME]
//      → STS AssumeRoleWithWebIdentity (the token file is read at every call).
//   3. the profile in the shared files (AWS_SHARED_CREDENTIALS_FILE / ~/.aws/credentials with
//      "[name]", AWS_CONFIG_FILE / ~/.aws/config with "[profile name]" or "[default]"):
//      aws_access_key_id + aws_secret_access_key [+ aws_session_token], or role_arn +
//      web_identity_token_file [+ role_session_name] (web identity as in 2). role_arn with
//      source_profile or credential_source, SSO and credential_process are unsupported: an
//      error naming the profile and the key. An explicitly chosen profile (option or
//      AWS_PROFILE) that is in neither file is an error naming both files; a missing "default"
//      profile is not.
//   4. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on the container endpoint) or
//      AWS_CONTAINER_CREDENTIALS_FULL_URI, with Authorization from the file
//      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every call) or
//      AWS_CONTAINER_AUTHORIZATION_TOKEN.
//   5. EC2 instance metadata (IMDSv2), unless AWS_EC2_METADATA_DISABLED=true. An unreachable
//      service or an instance without a role means "not found", quickly (1 s connect timeout).
// When nothing is configured the error (kNotFound) lists each source and why it was skipped.
// Every error is prefixed with the source; none contains a secret key, session token, web
// identity token or authorization token.
class AwsCredentialChain {
 public:
  explicit AwsCredentialChain(AwsCredentialChainOptions options);

  // Walks the chain once (blocking: file reads and HTTP under the timeouts above). Thread-safe.
  absl::StatusOr<AwsCredentials> Resolve() const;

  // The profile and STS endpoint the options and environment select (for logs and tests).
  std::string ProfileName() const;
  std::string StsEndpoint() const;

 private:
  AwsCredentialChainOptions options_;
};

}  // namespace ccrelay::controlplane::aws
