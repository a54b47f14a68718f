#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"

#include "proto/snapshot.pb.h"

#include "controlplane/credentials/aws_credential_chain.h"
#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/minted_credential.h"
#include "controlplane/credentials/minted_keys.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::aws {

// The snapshot's form of a set of credentials.
ccrelay::v1::AwsCredentials ToProto(const AwsCredentials& credentials);
// As a minted credential: key.aws, the access key id's fingerprint, the expiry, and the renewal
// the kind calls for (environment: never; profile: re-read; the others: ahead of expiry).
credentials::MintedCredential ToMinted(const AwsCredentials& credentials);

// The AWS credential chain (or anything that answers like it: tests script answers) as a
// CredentialSource.
class AwsChainSource final : public credentials::CredentialSource {
 public:
  using Resolver = std::function<absl::StatusOr<AwsCredentials>()>;
  explicit AwsChainSource(Resolver resolve) : resolve_(std::move(resolve)) {}
  // The AWS SDKs' default chain with these options (aws_credential_chain.h).
  static std::unique_ptr<AwsChainSource> ForChain(AwsCredentialChainOptions options);

  absl::StatusOr<credentials::MintedCredential> Resolve() override;

 private:
  Resolver resolve_;
};

// Bedrock's entry in the minters registry: a keyless Bedrock provider walks the AWS chain with
// its aws_region, aws_profile, aws_sts_endpoint and aws_imds_endpoint (a change of any restarts
// it) and `env`; its key is "<provider>/aws-chain"; logs are aws_credentials_*.
credentials::Minter BedrockMinter(EnvLookup env, const common::Clock* clock);

}  // namespace ccrelay::controlplane::aws
