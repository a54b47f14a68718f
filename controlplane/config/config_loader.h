#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/snapshot.pb.h"

#include "controlplane/config/env_expand.h"

namespace ccrelay::controlplane {

// One problem in a config file. ToString(): "<file>:<line>:<column>: <key.path>: <message>"
// (line and column 1-based; key path like "providers[1].keys[0].rpm_limit"). Problems with no
// position (file not readable) have line 0 and print as "<file>: <message>"; problems with the
// document as a whole (YAML syntax) have an empty key path and print without it.
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key_path;
  std::string message;
  std::string ToString() const;
};

// EnvLookup (injected environment lookup) and ProcessEnv() are declared in env_expand.h.

struct LoadResult {
  std::optional<ccrelay::v1::RoutingSnapshot> snapshot;  // set iff errors is empty
  std::vector<ConfigError> errors;
  bool ok() const { return errors.empty(); }
};

// Parses, expands ${VAR} / ${VAR:-default}, validates (every error collected, not just the
// first) and compiles a config into a routing snapshot (version 0; the caller numbers it).
// `file_label` names the text in errors and becomes snapshot.source. Never throws.
LoadResult LoadConfigString(std::string_view yaml_text, std::string_view file_label,
                            const EnvLookup& env);
// Same for a file (a missing or unreadable file is one error naming the path). A relative
// providers[].ca_file is resolved against the file's directory.
LoadResult LoadConfigFile(const std::string& path, const EnvLookup& env);

// The snapshot used when no config file exists: one enabled `anthropic` provider with no keys
// (passthrough of the client's own x-api-key / Authorization: Bearer), server.auth open,
// listen 127.0.0.1:8787, every default applied.
ccrelay::v1::RoutingSnapshot BuiltinDefaultSnapshot();

// $XDG_CONFIG_HOME/cc-relay/config.yaml, else $HOME/.config/cc-relay/config.yaml. Per the XDG
// spec an empty or relative XDG_CONFIG_HOME is ignored; without HOME the path is relative
// (".config/cc-relay/config.yaml").
std::string DefaultConfigPath(const EnvLookup& env);

}  // namespace ccrelay::controlplane
