#include "controlplane/credentials/aws_credential_chain.h"

#include <array>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "controlplane/credentials/aws_shared_files.h"
#include "controlplane/credentials/aws_sts_web_identity.h"
#include "dataplane/common/str.h"
#include "dataplane/common/token_file.h"

namespace ccrelay::controlplane::aws {
namespace {

using common::StrCat;

constexpr std::string_view kEcsAgent = "http://169.254.170.2";
constexpr std::string_view kImdsIpv4 = "http://169.254.169.254";
constexpr std::string_view kImdsIpv6 = "http://[fd00:ec2::254]";

// One source's answer: not configured (`skipped` says why, for the "tried" list), or its result.
struct Attempt {
  std::optional<absl::StatusOr<AwsCredentials>> result;
  std::string skipped;
};

Attempt Skip(std::string why) { return Attempt{std::nullopt, std::move(why)}; }
Attempt Got(absl::StatusOr<AwsCredentials> result) { return Attempt{std::move(result), ""}; }

AwsCredentials Labelled(AwsCredentials c, AwsCredentialKind kind, std::string source) {
  c.kind = kind;
  c.source = std::move(source);
  return c;
}

absl::StatusOr<AwsCredentials> Labelled(absl::StatusOr<AwsCredentials> c, AwsCredentialKind kind,
                                        std::string source) {
  if (!c.ok()) {
    return c;
  }
  return Labelled(*std::move(c), kind, std::move(source));
}

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') {
    s.pop_back();
  }
  return s;
}

// The files a profile was found in, for messages.
std::string ProfileFiles(const SharedProfile& p, const SharedFilePaths& paths) {
  if (p.in_credentials_file && p.in_config_file) {
    return StrCat(paths.credentials, " and ", paths.config);
  }
  return p.in_credentials_file ? paths.credentials : paths.config;
}

// "a or b" of the shared files that are in play.
std::string EitherFile(const SharedFilePaths& paths) {
  if (paths.credentials.empty()) {
    return paths.config;
  }
  if (paths.config.empty()) {
    return paths.credentials;
  }
  return StrCat(paths.credentials, " or ", paths.config);
}

class Walk {
 public:
  Walk(const AwsCredentialChainOptions& options, const AwsCredentialChain& chain)
      : options_(options), chain_(chain) {}

  Attempt Environment() const {
    const std::string id = Env("AWS_ACCESS_KEY_ID");
    const std::string secret = Env("AWS_SECRET_ACCESS_KEY");
    if (id.empty() && secret.empty()) {
      return Skip("AWS_ACCESS_KEY_ID not set");
    }
    if (id.empty() || secret.empty()) {
      return Got(absl::FailedPreconditionError(
          id.empty() ? "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"
                     : "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"));
    }
    AwsCredentials c;
    c.access_key_id = id;
    c.secret_access_key = common::Secret(secret);
    c.session_token = common::Secret(Env("AWS_SESSION_TOKEN"));
    const std::string expiration = Env("AWS_CREDENTIAL_EXPIRATION");
    if (!expiration.empty()) {
      auto expires = ParseAwsTimestamp(expiration);
      if (!expires.ok()) {
        return Got(absl::InvalidArgumentError(
            StrCat("AWS_CREDENTIAL_EXPIRATION: ", expires.status().message())));
      }
      c.expires_unix_ms = *expires;
    }
    return Got(Labelled(std::move(c), AwsCredentialKind::kEnvironment, "environment"));
  }

  Attempt WebIdentity() const {
    const std::string token_file = Env("AWS_WEB_IDENTITY_TOKEN_FILE");
    if (token_file.empty()) {
      return Skip("AWS_WEB_IDENTITY_TOKEN_FILE not set");
    }
    const std::string role_arn = Env("AWS_ROLE_ARN");
    if (role_arn.empty()) {
      return Got(absl::FailedPreconditionError(
          "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not"));
    }
    return Got(Labelled(AssumeRole(role_arn, token_file, Env("AWS_ROLE_SESSION_NAME")),
                        AwsCredentialKind::kWebIdentity, "web identity"));
  }

  Attempt Profile() const {
    const std::string name = chain_.ProfileName();
    const bool chosen = !options_.profile.empty() || !Env("AWS_PROFILE").empty();
    const SharedFilePaths paths = SharedFilePathsFrom(options_.env);
    if (paths.credentials.empty() && paths.config.empty()) {
      if (chosen) {
        return Got(absl::FailedPreconditionError(
            StrCat("AWS profile \"", name, "\" is chosen but HOME is not set")));
      }
      return Skip("HOME not set");
    }
    auto loaded = LoadSharedProfile(paths, name);
    if (!loaded.ok()) {
      return Got(loaded.status());
    }
    const SharedProfile& p = *loaded;
    if (!p.found()) {
      if (chosen) {
        return Got(absl::NotFoundError(
            StrCat("AWS profile \"", name, "\" not found in ", EitherFile(paths))));
      }
      return Skip(StrCat("not in ", EitherFile(paths)));
    }
    const std::string where = StrCat("profile \"", name, "\" in ", ProfileFiles(p, paths));
    const auto unsupported = [&where](std::string_view key, std::string_view what) {
      return Got(absl::UnimplementedError(StrCat(
          where, ": ", key, " (", what,
          ") is not supported; use a profile with aws_access_key_id/aws_secret_access_key or "
          "role_arn with web_identity_token_file")));
    };
    const std::string source = StrCat("profile ", name);
    if (!p.Get("role_arn").empty()) {
      if (!p.Get("source_profile").empty()) {
        return unsupported("source_profile", "role chaining");
      }
      if (!p.Get("credential_source").empty()) {
        return unsupported("credential_source", "role chaining");
      }
      const std::string token_file = p.Get("web_identity_token_file");
      if (token_file.empty()) {
        return Got(absl::FailedPreconditionError(
            StrCat(where, ": role_arn without web_identity_token_file")));
      }
      return Got(Labelled(AssumeRole(p.Get("role_arn"), token_file, p.Get("role_session_name")),
                          AwsCredentialKind::kProfile, source));
    }
    for (const char* key : {"sso_session", "sso_start_url", "sso_account_id"}) {
      if (!p.Get(key).empty()) {
        return unsupported(key, "IAM Identity Center / SSO");
      }
    }
    const std::string id = p.Get("aws_access_key_id");
    const std::string secret = p.Get("aws_secret_access_key");
    if (!id.empty() || !secret.empty()) {
      if (id.empty() || secret.empty()) {
        return Got(absl::FailedPreconditionError(
            StrCat(where, ": ",
                   id.empty() ? "aws_secret_access_key without aws_access_key_id"
                              : "aws_access_key_id without aws_secret_access_key")));
      }
      AwsCredentials c;
      c.access_key_id = id;
      c.secret_access_key = common::Secret(secret);
      c.session_token = common::Secret(p.Get("aws_session_token"));
      return Got(Labelled(std::move(c), AwsCredentialKind::kProfile, source));
    }
    if (!p.Get("credential_process").empty()) {
      return unsupported("credential_process", "an external command");
    }
    return Skip(StrCat("no credentials in ", where));
  }

  Attempt Container() const {
    const std::string relative = Env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const std::string full = Env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (relative.empty() && full.empty()) {
      return Skip("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set");
    }
    ContainerRequest request;
    request.timeouts = options_.metadata_timeouts;
    if (!relative.empty()) {
      const std::string base = options_.container_endpoint.empty()
                                   ? std::string(kEcsAgent)
                                   : TrimSlash(options_.container_endpoint);
      request.url = relative.front() == '/' ? StrCat(base, relative) : StrCat(base, "/", relative);
    } else {
      request.url = full;
      if (absl::Status s = CheckContainerUrl(full); !s.ok()) {
        return Got(s);
      }
    }
    const std::string token_file = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (!token_file.empty()) {
      auto token = common::ReadTokenFile(token_file);
      if (!token.ok()) {
        return Got(absl::Status(
            token.status().code(),
            StrCat("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: ", token.status().message())));
      }
      request.authorization = *std::move(token);
    } else {
      request.authorization = Env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    }
    return Got(
        Labelled(FetchContainerCredentials(request), AwsCredentialKind::kContainer, "container"));
  }

  Attempt InstanceMetadata() const {
    if (common::EqualsIgnoreCase(Env("AWS_EC2_METADATA_DISABLED"), "true")) {
      return Skip("disabled by AWS_EC2_METADATA_DISABLED");
    }
    std::string endpoint = options_.imds_endpoint;
    if (endpoint.empty()) {
      endpoint = Env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    }
    if (endpoint.empty()) {
      endpoint = common::EqualsIgnoreCase(Env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"), "IPv6")
                     ? std::string(kImdsIpv6)
                     : std::string(kImdsIpv4);
    }
    auto c = FetchInstanceMetadataCredentials(endpoint, options_.metadata_timeouts);
    if (absl::IsNotFound(c.status())) {
      return Skip(std::string(c.status().message()));
    }
    return Got(Labelled(std::move(c), AwsCredentialKind::kInstanceMetadata, "instance metadata"));
  }

 private:
  std::string Env(const std::string& name) const { return options_.env(name).value_or(""); }

  absl::StatusOr<AwsCredentials> AssumeRole(const std::string& role_arn,
                                            const std::string& token_file,
                                            const std::string& session_name) const {
    WebIdentityRequest request;
    request.role_arn = role_arn;
    request.token_file = token_file;
    request.session_name = session_name;
    request.sts_endpoint = chain_.StsEndpoint();
    request.timeouts = options_.sts_timeouts;
    const common::Clock& clock =
        options_.clock != nullptr ? *options_.clock : common::RealClock::Get();
    return AssumeRoleWithWebIdentity(request, clock);
  }

  const AwsCredentialChainOptions& options_;
  const AwsCredentialChain& chain_;
};

}  // namespace

AwsCredentialChain::AwsCredentialChain(AwsCredentialChainOptions options)
    : options_(std::move(options)) {
  if (!options_.env) {
    options_.env = MapEnvironment({});
  }
}

std::string AwsCredentialChain::ProfileName() const {
  if (!options_.profile.empty()) {
    return options_.profile;
  }
  std::string p = options_.env("AWS_PROFILE").value_or("");
  return p.empty() ? "default" : p;
}

std::string AwsCredentialChain::StsEndpoint() const {
  if (!options_.sts_endpoint.empty()) {
    return options_.sts_endpoint;
  }
  for (const char* name : {"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"}) {
    std::string v = options_.env(name).value_or("");
    if (!v.empty()) {
      return v;
    }
  }
  std::string region = options_.region;
  for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (region.empty()) {
      region = options_.env(name).value_or("");
    }
  }
  if (region.empty()) {
    return "https://sts.amazonaws.com";
  }
  return StrCat("https://sts.", region,
                region.starts_with("cn-") ? ".amazonaws.com.cn" : ".amazonaws.com");
}

absl::StatusOr<AwsCredentials> AwsCredentialChain::Resolve() const {
  const Walk walk(options_, *this);
  const std::string profile_source = StrCat("profile ", ProfileName());
  const std::array<std::pair<std::string_view, Attempt (Walk::*)() const>, 5> sources = {{
      {"environment", &Walk::Environment},
      {"web identity", &Walk::WebIdentity},
      {profile_source, &Walk::Profile},
      {"container", &Walk::Container},
      {"instance metadata", &Walk::InstanceMetadata},
  }};
  std::vector<std::string> tried;
  for (const auto& [name, source] : sources) {
    Attempt attempt = (walk.*source)();
    if (!attempt.result.has_value()) {
      tried.push_back(StrCat(name, " (", attempt.skipped, ")"));
      continue;
    }
    if (!attempt.result->ok()) {
      const absl::Status& s = attempt.result->status();
      return absl::Status(s.code(), StrCat("AWS credentials from ", name, ": ", s.message()));
    }
    return *std::move(*attempt.result);
  }
  std::string message = "no AWS credentials found; tried: ";
  for (size_t i = 0; i < tried.size(); ++i) {
    common::StrAppend(&message, i == 0 ? "" : "; ", tried[i]);
  }
  return absl::NotFoundError(message);
}

}  // namespace ccrelay::controlplane::aws
