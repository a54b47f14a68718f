#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/http_fetch.h"
#include "controlplane/credentials/oauth_token.h"
#include "dataplane/common/clock.h"
#include "dataplane/common/secret.h"

namespace ccrelay::controlplane::azure {

// What the chain reads (a provider's TokenSource azure_* fields, the process environment).
// Everything is injected so that tests point it at fakes.
struct AzureCredentialChainOptions {
  aws::EnvLookup env;  // required: aws::ProcessEnvironment() in production
  // TokenSource.azure_auth: "" (the first source that is set up) | "client_secret" |
  // "workload_identity" | "managed_identity" (that source only).
  std::string auth;
  std::string tenant_id;             // "" = AZURE_TENANT_ID
  std::string client_id;             // "" = AZURE_CLIENT_ID
  common::Secret client_secret;      // "" = AZURE_CLIENT_SECRET
  std::string federated_token_file;  // "" = AZURE_FEDERATED_TOKEN_FILE
  std::string authority_host;        // "" = AZURE_AUTHORITY_HOST, then login.microsoftonline.com
  std::string imds_endpoint;         // "" = http://169.254.169.254
  std::string scope;                 // "" = https://ai.azure.com/.default
  aws::HttpTimeouts token_timeouts{std::chrono::milliseconds(3000),
                                   std::chrono::milliseconds(10000)};
  aws::HttpTimeouts imds_timeouts{std::chrono::milliseconds(1000),
                                  std::chrono::milliseconds(10000)};
  const common::Clock* clock = nullptr;  // dates expires_in; RealClock when null
};

// Microsoft Entra ID access tokens for an Azure provider without an api-key, from the sources of
// DefaultAzureCredential that a server uses, in its order. With `auth` empty the first source
// that is set up wins, and if it then fails that is the answer (no fall-through), as in the SDK:
//   1. client secret: a secret (option or AZURE_CLIENT_SECRET) with a tenant and a client id →
//      POST {authority}/{tenant}/oauth2/v2.0/token, grant_type=client_credentials.
//      AZURE_CLIENT_CERTIFICATE_PATH without a secret is an error (certificates unsupported).
//   2. workload identity (AKS): a federated token file (option or AZURE_FEDERATED_TOKEN_FILE,
//      re-read at every call) with a tenant and a client id → the same endpoint with
//      client_assertion = the file's token.
//   3. managed identity: the instance metadata service (IMDS), for the user-assigned identity
//      whose client id is set (option or AZURE_CLIENT_ID, as DefaultAzureCredential does), else
//      the system-assigned one. Unreachable, or no such identity: kNotFound listing every
//      source and why it was skipped. App Service style IDENTITY_ENDPOINT is unsupported (the
//      message says so when it is set).
// A source chosen by `auth` whose settings are missing is kFailedPrecondition naming each
// missing option and variable; an unknown `auth` is kInvalidArgument. Every error starts with
// "Azure credentials from <source>" and names the endpoint; none contains the client secret,
// the federated token or an access token (a remote message echoing one is redacted).
class AzureCredentialChain {
 public:
  explicit AzureCredentialChain(AzureCredentialChainOptions options);

  // Walks the chain once: blocking (a file read, HTTP bounded by the timeouts). Thread-safe.
  // OAuthToken.source: "client secret (app <client id>)", "workload identity (app <client id>)",
  // "managed identity" or "managed identity (client <client id>)".
  absl::StatusOr<credentials::OAuthToken> Resolve();

 private:
  AzureCredentialChainOptions options_;
};

}  // namespace ccrelay::controlplane::azure
