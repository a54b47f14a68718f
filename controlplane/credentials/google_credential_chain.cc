#include "controlplane/credentials/google_credential_chain.h"

#include <optional>
#include <utility>
#include <vector>

#include "controlplane/credentials/google_credentials_file.h"
#include "controlplane/credentials/google_token_grants.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::gcp {
namespace {

using common::StrCat;

constexpr char kDefaultMetadataEndpoint[] = "http://169.254.169.254";
constexpr char kWellKnownFile[] = "application_default_credentials.json";

std::string Env(const aws::EnvLookup& env, const std::string& name) {
  return env(name).value_or("");
}

// gcloud's well-known file ("" when neither CLOUDSDK_CONFIG nor HOME is set).
std::string WellKnownFile(const aws::EnvLookup& env) {
  const std::string config = Env(env, "CLOUDSDK_CONFIG");
  if (!config.empty()) {
    return StrCat(config, "/", kWellKnownFile);
  }
  const std::string home = Env(env, "HOME");
  if (home.empty()) {
    return "";
  }
  return StrCat(home, "/.config/gcloud/", kWellKnownFile);
}

// "Google credentials from <source>: " before the message of an error.
absl::Status Prefixed(const absl::Status& s, std::string_view source) {
  return absl::Status(s.code(), StrCat("Google credentials from ", source,
                                       source.empty() ? "" : ": ", s.message()));
}
absl::StatusOr<credentials::OAuthToken> Prefixed(absl::StatusOr<credentials::OAuthToken> token,
                                                 std::string_view source) {
  if (token.ok()) {
    return token;
  }
  return Prefixed(token.status(), source);
}

}  // namespace

GoogleCredentialChain::GoogleCredentialChain(GoogleCredentialChainOptions options)
    : options_(std::move(options)) {
  if (!options_.env) {
    options_.env = aws::MapEnvironment({});
  }
}

std::string GoogleCredentialChain::MetadataEndpoint() const {
  if (!options_.metadata_endpoint.empty()) {
    return options_.metadata_endpoint;
  }
  const std::string host = Env(options_.env, "GCE_METADATA_HOST");
  if (!host.empty()) {
    return host.find("://") == std::string::npos ? StrCat("http://", host) : host;
  }
  return kDefaultMetadataEndpoint;
}

absl::StatusOr<credentials::OAuthToken> GoogleCredentialChain::Resolve() const {
  const common::Clock& clock =
      options_.clock != nullptr ? *options_.clock : common::RealClock::Get();
  std::vector<std::string> tried;  // the sources skipped, and why
  // The file the first present source names; only the well-known file may be missing.
  std::string file;
  std::string source;
  bool may_be_missing = false;
  const std::string env_file = Env(options_.env, "GOOGLE_APPLICATION_CREDENTIALS");
  if (!options_.credentials_file.empty()) {
    file = options_.credentials_file;
    source = "gcp_credentials_file";
  } else if (!env_file.empty()) {
    file = env_file;
    source = "GOOGLE_APPLICATION_CREDENTIALS";
  } else {
    tried.emplace_back("GOOGLE_APPLICATION_CREDENTIALS (not set)");
    file = WellKnownFile(options_.env);
    source = "gcloud's well-known file";
    may_be_missing = true;
    if (file.empty()) {
      tried.emplace_back("gcloud's well-known file (neither CLOUDSDK_CONFIG nor HOME is set)");
    }
  }

  if (!file.empty()) {
    auto parsed = ReadGoogleCredentialsFile(file);
    if (parsed.ok()) {
      return FromFile(*parsed, file, source, clock);
    }
    if (!absl::IsNotFound(parsed.status())) {
      return Prefixed(parsed.status(), source);
    }
    if (!may_be_missing) {
      // Named explicitly: a configuration error, not "nothing here".
      return Prefixed(absl::FailedPreconditionError(parsed.status().message()), source);
    }
    tried.push_back(StrCat(source, " ", file, " (does not exist)"));
  }

  auto token = FetchMetadataServerToken(MetadataEndpoint(), kCloudPlatformScope, clock,
                                        options_.metadata_timeouts);
  if (token.ok() || !absl::IsNotFound(token.status())) {
    // Its messages start with "metadata server <endpoint>".
    return Prefixed(token, "");
  }
  tried.emplace_back(token.status().message());
  std::string message = "no Google credentials found; tried: ";
  for (size_t i = 0; i < tried.size(); ++i) {
    common::StrAppend(&message, i == 0 ? "" : "; ", tried[i]);
  }
  return absl::NotFoundError(message);
}

absl::StatusOr<credentials::OAuthToken> GoogleCredentialChain::FromFile(
    const GoogleCredentialsFile& parsed, const std::string& file, const std::string& source,
    const common::Clock& clock) const {
  TokenGrantRequest request;
  request.scope = kCloudPlatformScope;
  request.timeouts = options_.token_timeouts;
  const bool service_account = parsed.type == GoogleCredentialsFile::Type::kServiceAccount;
  const std::string& file_uri =
      service_account ? parsed.service_account.token_uri : parsed.authorized_user.token_uri;
  request.endpoint = !options_.token_endpoint.empty() ? options_.token_endpoint
                     : !file_uri.empty()              ? file_uri
                                                      : std::string(kDefaultTokenEndpoint);
  return Prefixed(service_account
                      ? FetchServiceAccountToken(parsed.service_account, request, clock)
                      : FetchAuthorizedUserToken(parsed.authorized_user, request, clock),
                  StrCat(source, " ", file));
}

}  // namespace ccrelay::controlplane::gcp
