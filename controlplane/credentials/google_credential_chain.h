#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/google_credentials_file.h"
#include "controlplane/credentials/google_metadata_token.h"
#include "controlplane/credentials/http_fetch.h"
#include "controlplane/credentials/oauth_token.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::gcp {

// What Vertex AI needs (protocols.md 4.2).
inline constexpr char kCloudPlatformScope[] = "https://www.googleapis.com/auth/cloud-platform";

// What the chain reads. Everything is injected so that tests point it at fakes.
struct GoogleCredentialChainOptions {
  aws::EnvLookup env;            // required: aws::ProcessEnvironment() in production
  std::string credentials_file;  // TokenSource.gcp_credentials_file ("" = ADC)
  // TokenSource.gcp_token_endpoint: "" = the file's token_uri, then
  // https://oauth2.googleapis.com/token. Also the JWT's aud.
  std::string token_endpoint;
  // TokenSource.gcp_metadata_endpoint: "" = http://$GCE_METADATA_HOST, then
  // http://169.254.169.254.
  std::string metadata_endpoint;
  const common::Clock* clock = nullptr;  // iat/exp and expiry; RealClock when null
  aws::HttpTimeouts token_timeouts{std::chrono::milliseconds(3000),
                                   std::chrono::milliseconds(10000)};  // token endpoint
  aws::HttpTimeouts metadata_timeouts = kGoogleMetadataTimeouts;       // metadata server
};

// Google's Application Default Credentials, as google-auth-library looks them up, minting an
// OAuth access token for kCloudPlatformScope. Sources, in order; the first one present wins, and
// if it then fails that is the answer (an error), as in the libraries:
//   1. `credentials_file` (config), else GOOGLE_APPLICATION_CREDENTIALS: a file that must exist
//      (kFailedPrecondition if it does not).
//   2. gcloud's well-known file: $CLOUDSDK_CONFIG/application_default_credentials.json, else
//      $HOME/.config/gcloud/application_default_credentials.json; a missing file is skipped.
//   3. the metadata server (GCE, GKE Workload Identity, Cloud Run); unreachable, or not a Google
//      one (no Metadata-Flavor: Google in its answer), means "not found".
// A file of type service_account: the RS256 JWT bearer grant; authorized_user: the refresh
// token grant; any other type (external_account, impersonated_service_account, ...) is a
// kUnimplemented error naming the file and the type. Files are re-read at every call.
// When no source is present the error (kNotFound) lists each one and why it was skipped. Errors
// start with "Google credentials from <source>" and name the file or endpoint; none contains
// a private key, client secret, refresh token, assertion or access token.
class GoogleCredentialChain {
 public:
  explicit GoogleCredentialChain(GoogleCredentialChainOptions options);

  // One resolution (blocking: file reads and HTTP under the timeouts above). Thread-safe.
  absl::StatusOr<credentials::OAuthToken> Resolve() const;

  // The metadata server the options and environment select (for logs and tests).
  std::string MetadataEndpoint() const;

 private:
  absl::StatusOr<credentials::OAuthToken> FromFile(const GoogleCredentialsFile& parsed,
                                                   const std::string& file,
                                                   const std::string& source,
                                                   const common::Clock& clock) const;

  GoogleCredentialChainOptions options_;
};

}  // namespace ccrelay::controlplane::gcp
