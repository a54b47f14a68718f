#pragma once

#include "controlplane/credentials/aws_credentials.h"
#include "controlplane/credentials/minted_keys.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane::credentials {

// Every provider type whose credentials the control plane mints, with the Minter that does it
// (SPEC.md, Minted credentials): the registry control_plane.cc hands to MintedKeys. `env` is
// the process environment the sources read (AWS_*, GOOGLE_*, AZURE_*), `clock` their time.
Minters BuiltinMinters(const aws::EnvLookup& env, const common::Clock* clock);

}  // namespace ccrelay::controlplane::credentials
