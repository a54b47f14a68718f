#include "controlplane/credentials/minters.h"

#include "controlplane/credentials/aws_chain_source.h"

namespace ccrelay::controlplane::credentials {

Minters BuiltinMinters(const aws::EnvLookup& env, const common::Clock* clock) {
  Minters out;
  // Bedrock without keys: the AWS credential chain ("<provider>/aws-chain").
  out.emplace("bedrock", aws::BedrockMinter(env, clock));
  // ---- Issue 12: register the token types here, one line each, e.g.
  //   out.emplace("vertex", google::VertexMinter(env, clock));  // Google OAuth tokens
  //   out.emplace("azure", azure::EntraMinter(env, clock));     // Microsoft Entra ID tokens
  // A Minter needs `source` (Provider -> CredentialSource), `settings` (what restarts the
  // refresher; default: the provider's token_source), and refresher.noun / log_prefix. Every
  // enabled provider of a registered type without keys then mints (minted_keys.h).
  return out;
}

}  // namespace ccrelay::controlplane::credentials
