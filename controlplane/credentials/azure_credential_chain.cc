#include "controlplane/credentials/azure_credential_chain.h"

#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "controlplane/credentials/azure_entra_token.h"
#include "controlplane/credentials/azure_managed_identity.h"
#include "dataplane/common/str.h"
#include "dataplane/common/token_file.h"

namespace ccrelay::controlplane::azure {
namespace {

using common::StrCat;
using credentials::OAuthToken;

constexpr std::string_view kClientSecret = "client_secret";
constexpr std::string_view kWorkloadIdentity = "workload_identity";
constexpr std::string_view kManagedIdentity = "managed_identity";

// One source's answer: not set up (`skipped` says why, for the "tried" list), or its result.
// `source` labels both the token and the errors.
struct Attempt {
  std::optional<absl::StatusOr<OAuthToken>> result;
  std::string skipped;
  std::string source;
};

Attempt Skip(std::string source, std::string why) {
  return Attempt{std::nullopt, std::move(why), std::move(source)};
}
Attempt Got(std::string source, absl::StatusOr<OAuthToken> result) {
  return Attempt{std::move(result), "", std::move(source)};
}

// A setting that is a config option with an environment variable behind it.
struct Setting {
  std::string value;
  std::string name;  // where the value came from, or both names when unset
};

// "a, b and c"
std::string JoinAnd(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    common::StrAppend(&out, i == 0 ? "" : (i + 1 == parts.size() ? " and " : ", "), parts[i]);
  }
  return out;
}

class Walk {
 public:
  Walk(const AzureCredentialChainOptions& options, std::string scope)
      : options_(options),
        scope_(std::move(scope)),
        clock_(options.clock != nullptr ? *options.clock : common::RealClock::Get()) {}

  // `chosen`: azure_auth names this source, so missing settings are an error, never a skip.
  Attempt ClientSecret(bool chosen) const {
    const Setting secret = Get(std::string(options_.client_secret.Reveal()), "azure_client_secret",
                               "AZURE_CLIENT_SECRET");
    const Setting tenant = TenantId();
    const Setting client = ClientId();
    const std::string source = Label("client secret", client);
    if (secret.value.empty() && !chosen) {
      const std::string certificate = Env("AZURE_CLIENT_CERTIFICATE_PATH");
      if (!certificate.empty() && !tenant.value.empty() && !client.value.empty()) {
        return Got(source, absl::UnimplementedError(StrCat(
                               "AZURE_CLIENT_CERTIFICATE_PATH is set: client certificates are not "
                               "supported; use a client secret, workload identity or a managed "
                               "identity (azure_auth)")));
      }
      return Skip(source, StrCat(secret.name, " not set"));
    }
    if (absl::Status s = Needs(chosen, kClientSecret, secret, {tenant, client, secret}); !s.ok()) {
      return Got(source, s);
    }
    ClientCredentialsRequest request;
    if (absl::Status s = Prepare(tenant, client, &request); !s.ok()) {
      return Got(source, s);
    }
    request.client_secret = common::Secret(secret.value);
    return Got(source, RequestClientCredentialsToken(request, clock_));
  }

  Attempt WorkloadIdentity(bool chosen) const {
    const Setting file = Get(options_.federated_token_file, "azure_federated_token_file",
                             "AZURE_FEDERATED_TOKEN_FILE");
    const Setting tenant = TenantId();
    const Setting client = ClientId();
    const std::string source = Label("workload identity", client);
    if (file.value.empty() && !chosen) {
      return Skip(source, StrCat(file.name, " not set"));
    }
    if (absl::Status s = Needs(chosen, kWorkloadIdentity, file, {tenant, client, file}); !s.ok()) {
      return Got(source, s);
    }
    ClientCredentialsRequest request;
    if (absl::Status s = Prepare(tenant, client, &request); !s.ok()) {
      return Got(source, s);
    }
    // Kubernetes rotates the projected token: read it at every call. Errors name the path only.
    auto token = common::ReadTokenFile(file.value);
    if (!token.ok()) {
      return Got(source, absl::Status(token.status().code(),
                                      StrCat(file.name, ": ", token.status().message())));
    }
    request.client_assertion = common::Secret(*std::move(token));
    return Got(source, RequestClientCredentialsToken(request, clock_));
  }

  Attempt ManagedIdentity() const {
    const Setting client = ClientId();
    const std::string source = client.value.empty()
                                   ? std::string("managed identity")
                                   : StrCat("managed identity (client ", client.value, ")");
    ManagedIdentityRequest request;
    request.imds_endpoint =
        options_.imds_endpoint.empty() ? std::string(kDefaultImdsEndpoint) : options_.imds_endpoint;
    request.resource = ScopeToResource(scope_);
    request.client_id = client.value;
    request.timeouts = options_.imds_timeouts;
    auto token = RequestManagedIdentityToken(request, clock_);
    if (absl::IsNotFound(token.status())) {
      std::string why(token.status().message());
      for (const char* name : {"IDENTITY_ENDPOINT", "MSI_ENDPOINT"}) {
        if (!Env(name).empty()) {
          common::StrAppend(&why, "; ", name,
                            " is set, but the App Service / Functions / Container Apps / Arc / "
                            "Service Fabric managed identity endpoint is not supported (IMDS "
                            "only)");
          break;
        }
      }
      return Skip(source, std::move(why));
    }
    return Got(source, std::move(token));
  }

 private:
  std::string Env(const char* name) const { return options_.env(name).value_or(""); }

  Setting Get(const std::string& option, std::string_view option_name, const char* variable) const {
    if (!option.empty()) {
      return Setting{option, std::string(option_name)};
    }
    std::string value = Env(variable);
    if (!value.empty()) {
      return Setting{std::move(value), variable};
    }
    return Setting{"", StrCat(option_name, " / ", variable)};
  }
  Setting TenantId() const { return Get(options_.tenant_id, "azure_tenant_id", "AZURE_TENANT_ID"); }
  Setting ClientId() const { return Get(options_.client_id, "azure_client_id", "AZURE_CLIENT_ID"); }

  static std::string Label(std::string_view kind, const Setting& client) {
    return client.value.empty() ? std::string(kind) : StrCat(kind, " (app ", client.value, ")");
  }

  // The settings a source lacks, named: "azure_auth is client_secret, but azure_tenant_id /
  // AZURE_TENANT_ID is not set", or "AZURE_FEDERATED_TOKEN_FILE is set, but …".
  static absl::Status Needs(bool chosen, std::string_view auth, const Setting& trigger,
                            const std::vector<Setting>& settings) {
    std::vector<std::string> missing;
    for (const Setting& s : settings) {
      if (s.value.empty()) {
        missing.push_back(s.name);
      }
    }
    if (missing.empty()) {
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(
        StrCat(chosen ? StrCat("azure_auth is ", auth) : StrCat(trigger.name, " is set"), ", but ",
               JoinAnd(missing), missing.size() == 1 ? " is not set" : " are not set"));
  }

  // The request's endpoint, tenant, client and scope, validated.
  absl::Status Prepare(const Setting& tenant, const Setting& client,
                       ClientCredentialsRequest* request) const {
    if (absl::Status s = CheckTenantId(tenant.value, tenant.name); !s.ok()) {
      return s;
    }
    const Setting authority =
        Get(options_.authority_host, "azure_authority_host", "AZURE_AUTHORITY_HOST");
    auto normalized = NormalizeAuthorityHost(
        authority.value.empty() ? kDefaultAuthorityHost : std::string_view(authority.value),
        authority.name);
    if (!normalized.ok()) {
      return normalized.status();
    }
    request->authority = *std::move(normalized);
    request->tenant_id = tenant.value;
    request->client_id = client.value;
    request->scope = scope_;
    request->timeouts = options_.token_timeouts;
    return absl::OkStatus();
  }

  const AzureCredentialChainOptions& options_;
  const std::string scope_;
  const common::Clock& clock_;
};

absl::StatusOr<OAuthToken> Finish(Attempt attempt) {
  absl::StatusOr<OAuthToken>& result = *attempt.result;
  if (!result.ok()) {
    return absl::Status(result.status().code(), StrCat("Azure credentials from ", attempt.source,
                                                       ": ", result.status().message()));
  }
  result->source = attempt.source;
  return std::move(result);
}

}  // namespace

AzureCredentialChain::AzureCredentialChain(AzureCredentialChainOptions options)
    : options_(std::move(options)) {
  if (!options_.env) {
    options_.env = aws::MapEnvironment({});
  }
}

absl::StatusOr<OAuthToken> AzureCredentialChain::Resolve() {
  const std::string& auth = options_.auth;
  if (!auth.empty() && auth != kClientSecret && auth != kWorkloadIdentity &&
      auth != kManagedIdentity) {
    return absl::InvalidArgumentError(StrCat("azure_auth \"", auth, "\": expected ", kClientSecret,
                                             ", ", kWorkloadIdentity, " or ", kManagedIdentity,
                                             " (or nothing: the first that is set up)"));
  }
  const std::string scope = options_.scope.empty() ? std::string(kDefaultScope) : options_.scope;
  if (absl::Status s = CheckScope(scope, "azure_scope"); !s.ok()) {
    return s;
  }
  const Walk walk(options_, scope);
  if (auth == kClientSecret) {
    return Finish(walk.ClientSecret(/*chosen=*/true));
  }
  if (auth == kWorkloadIdentity) {
    return Finish(walk.WorkloadIdentity(/*chosen=*/true));
  }
  if (auth == kManagedIdentity) {
    Attempt attempt = walk.ManagedIdentity();
    if (!attempt.result.has_value()) {
      return absl::NotFoundError(
          StrCat("Azure credentials from ", attempt.source, ": ", attempt.skipped));
    }
    return Finish(std::move(attempt));
  }
  std::vector<std::string> tried;
  for (Attempt (Walk::*source)(bool) const : {&Walk::ClientSecret, &Walk::WorkloadIdentity}) {
    Attempt attempt = (walk.*source)(/*chosen=*/false);
    if (attempt.result.has_value()) {
      return Finish(std::move(attempt));
    }
    tried.push_back(StrCat(attempt.source, " (", attempt.skipped, ")"));
  }
  Attempt attempt = walk.ManagedIdentity();
  if (attempt.result.has_value()) {
    return Finish(std::move(attempt));
  }
  tried.push_back(StrCat(attempt.source, " (", attempt.skipped, ")"));
  std::string message = "no Azure credentials found; tried: ";
  for (size_t i = 0; i < tried.size(); ++i) {
    common::StrAppend(&message, i == 0 ? "" : "; ", tried[i]);
  }
  return absl::NotFoundError(message);
}

}  // namespace ccrelay::controlplane::azure
