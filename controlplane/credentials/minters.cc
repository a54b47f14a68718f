#include "controlplane/credentials/minters.h"

#include "controlplane/credentials/aws_chain_source.h"
#include "controlplane/credentials/oauth_minters.h"

namespace ccrelay::controlplane::credentials {

Minters BuiltinMinters(const aws::EnvLookup& env, const common::Clock* clock) {
  Minters out;
  // Bedrock without keys: the AWS credential chain ("<provider>/aws-chain").
  out.emplace("bedrock", aws::BedrockMinter(env, clock));
  // Vertex without keys: Google OAuth tokens; Azure without keys: Microsoft Entra ID tokens
  // ("<provider>/minted").
  out.emplace("vertex", VertexMinter(env, clock));
  out.emplace("azure", EntraMinter(env, clock));
  // A new type is one line here. A Minter needs `source` (Provider -> CredentialSource), `settings` (what restarts the
  // refresher; default: the provider's token_source), and refresher.noun / log_prefix. Every
  // enabled provider of a registered type without keys then mints (minted_keys.h).
  return out;
}

}  // namespace ccrelay::controlplane::credentials
