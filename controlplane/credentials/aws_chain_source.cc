#include "controlplane/credentials/aws_chain_source.h"

#include <utility>

#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::aws {

ccrelay::v1::AwsCredentials ToProto(const AwsCredentials& credentials) {
  ccrelay::v1::AwsCredentials out;
  out.set_access_key_id(credentials.access_key_id);
  out.set_secret_access_key(std::string(credentials.secret_access_key.Reveal()));
  out.set_session_token(std::string(credentials.session_token.Reveal()));
  out.set_expires_unix_ms(credentials.expires_unix_ms);
  out.set_source(credentials.source);
  return out;
}

credentials::MintedCredential ToMinted(const AwsCredentials& credentials) {
  using Renewal = credentials::MintedCredential::Renewal;
  credentials::MintedCredential out;
  *out.key.mutable_aws() = ToProto(credentials);
  out.key.set_fingerprint(common::FingerprintOf(credentials.access_key_id));
  out.key.set_expires_unix_ms(credentials.expires_unix_ms);
  out.expires_unix_ms = credentials.expires_unix_ms;
  switch (credentials.kind) {
    case AwsCredentialKind::kEnvironment:
      out.renewal = Renewal::kNever;
      break;
    case AwsCredentialKind::kProfile:
      out.renewal = Renewal::kReread;
      break;
    case AwsCredentialKind::kWebIdentity:
    case AwsCredentialKind::kContainer:
    case AwsCredentialKind::kInstanceMetadata:
      out.renewal = Renewal::kAtExpiry;
      break;
  }
  out.source = credentials.source;
  return out;
}

std::unique_ptr<AwsChainSource> AwsChainSource::ForChain(AwsCredentialChainOptions options) {
  auto chain = std::make_shared<const AwsCredentialChain>(std::move(options));
  return std::make_unique<AwsChainSource>([chain] { return chain->Resolve(); });
}

absl::StatusOr<credentials::MintedCredential> AwsChainSource::Resolve() {
  absl::StatusOr<AwsCredentials> resolved = resolve_();
  if (!resolved.ok()) {
    return resolved.status();
  }
  return ToMinted(*resolved);
}

credentials::Minter BedrockMinter(EnvLookup env, const common::Clock* clock) {
  credentials::Minter m;
  m.source = [env = std::move(env), clock](const ccrelay::v1::Provider& p) {
    AwsCredentialChainOptions co;
    co.env = env;
    co.profile = p.aws_profile();
    co.region = p.aws_region();
    co.sts_endpoint = p.aws_sts_endpoint();
    co.imds_endpoint = p.aws_imds_endpoint();
    co.clock = clock;
    return AwsChainSource::ForChain(std::move(co));
  };
  m.settings = [](const ccrelay::v1::Provider& p) {
    return common::StrCat(p.aws_region(), "|", p.aws_profile(), "|", p.aws_sts_endpoint(), "|",
                          p.aws_imds_endpoint());
  };
  m.key_suffix = "aws-chain";
  m.refresher.noun = "AWS credentials";
  m.refresher.log_prefix = "aws_credentials";
  return m;
}

}  // namespace ccrelay::controlplane::aws
