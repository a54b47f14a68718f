#pragma once

#include <vector>

#include "proto/snapshot.pb.h"

#include "controlplane/config/provider_config.h"
#include "controlplane/config/yaml_reader.h"

namespace ccrelay::controlplane {

// Reads `routing.rules` (scenario rules, an ordered list) and `routing.background_models` (a
// glob or a list of globs; absent: ["*haiku*"]) into `routing`. Reports, each at its own
// file:line:col and key: a rule without a name, a duplicate or reserved name ("default", the
// metrics' label for no rule), a rule without a match condition, an unknown match key, a bad
// glob, an unknown server tool (with a did-you-mean), `client_key` (not supported until teams
// exist), an unknown or duplicate provider, an unknown strategy.
void ReadRoutingRules(ConfigReader& reader, const Field& rules, const Field& background_models,
                      const std::vector<ReadProvider>& providers, ccrelay::v1::Routing* routing);

}  // namespace ccrelay::controlplane
