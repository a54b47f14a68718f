#include "controlplane/credentials/oauth_minters.h"

#include <functional>
#include <memory>
#include <utility>

#include "controlplane/credentials/azure_credential_chain.h"
#include "controlplane/credentials/google_credential_chain.h"
#include "controlplane/credentials/oauth_token.h"

namespace ccrelay::controlplane::credentials {

namespace {

// A source of OAuth access tokens as the snapshot carries them: the token as the key's secret,
// sent as Authorization: Bearer, renewed ahead of its expiry.
class OAuthTokenSource final : public CredentialSource {
 public:
  explicit OAuthTokenSource(std::function<absl::StatusOr<OAuthToken>()> mint)
      : mint_(std::move(mint)) {}

  // CredentialSource
  absl::StatusOr<MintedCredential> Resolve() override {
    absl::StatusOr<OAuthToken> token = mint_();
    if (!token.ok()) {
      return token.status();
    }
    MintedCredential out;
    out.key.set_secret(std::string(token->access_token.Reveal()));
    out.key.set_fingerprint(token->access_token.Fingerprint());
    out.key.set_oauth_token(true);
    out.key.set_expires_unix_ms(token->expires_unix_ms);
    out.expires_unix_ms = token->expires_unix_ms;
    // A token without an expiry (no issuer sends one, but nothing says it cannot) is minted
    // again periodically rather than never.
    out.renewal = token->expires_unix_ms != 0 ? MintedCredential::Renewal::kAtExpiry
                                              : MintedCredential::Renewal::kReread;
    out.source = std::move(token->source);
    return out;
  }

 private:
  std::function<absl::StatusOr<OAuthToken>()> mint_;
};

}  // namespace

Minter VertexMinter(aws::EnvLookup env, const common::Clock* clock) {
  Minter m;
  m.source = [env = std::move(env), clock](const ccrelay::v1::Provider& p) {
    gcp::GoogleCredentialChainOptions o;
    o.env = env;
    o.credentials_file = p.token_source().gcp_credentials_file();
    o.token_endpoint = p.token_source().gcp_token_endpoint();
    o.metadata_endpoint = p.token_source().gcp_metadata_endpoint();
    o.clock = clock;
    auto chain = std::make_shared<const gcp::GoogleCredentialChain>(std::move(o));
    return std::make_unique<OAuthTokenSource>([chain] { return chain->Resolve(); });
  };
  m.refresher.noun = "Google token";
  m.refresher.log_prefix = "google_token";
  return m;
}

Minter EntraMinter(aws::EnvLookup env, const common::Clock* clock) {
  Minter m;
  m.source = [env = std::move(env), clock](const ccrelay::v1::Provider& p) {
    const ccrelay::v1::TokenSource& t = p.token_source();
    azure::AzureCredentialChainOptions o;
    o.env = env;
    o.auth = t.azure_auth();
    o.tenant_id = t.azure_tenant_id();
    o.client_id = t.azure_client_id();
    o.client_secret = common::Secret(t.azure_client_secret());
    o.federated_token_file = t.azure_federated_token_file();
    o.authority_host = t.azure_authority_host();
    o.imds_endpoint = t.azure_imds_endpoint();
    o.scope = t.azure_scope();
    o.clock = clock;
    auto chain = std::make_shared<azure::AzureCredentialChain>(std::move(o));
    return std::make_unique<OAuthTokenSource>([chain] { return chain->Resolve(); });
  };
  m.refresher.noun = "Entra ID token";
  m.refresher.log_prefix = "entra_token";
  return m;
}

}  // namespace ccrelay::controlplane::credentials
