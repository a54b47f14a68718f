#pragma once

#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/minted_keys.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::credentials {

// Vertex providers without keys: Google access tokens (scope cloud-platform) from the provider's
// token_source (gcp_credentials_file, gcp_token_endpoint, gcp_metadata_endpoint) or Application
// Default Credentials (google_credential_chain.h). Key id "<provider>/minted".
Minter VertexMinter(aws::EnvLookup env, const common::Clock* clock);

// Azure providers without keys: Microsoft Entra ID access tokens (scope azure_scope, default
// https://ai.azure.com/.default) from the provider's token_source or the AZURE_* environment
// (azure_credential_chain.h). Key id "<provider>/minted".
Minter EntraMinter(aws::EnvLookup env, const common::Clock* clock);

}  // namespace ccrelay::controlplane::credentials
