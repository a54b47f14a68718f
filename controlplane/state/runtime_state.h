#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ccrelay::controlplane {

// Runtime changes made through the management API, kept beside the YAML config and persisted in
// the state file. How they combine with the YAML (SPEC.md, "Control plane"):
//   - everything is keyed by provider name and key fingerprint;
//   - a provider that disappears from the YAML drops its entry (added keys included);
//   - an enable/disable override remembers the YAML value it overrode (`config_value`): when a
//     later YAML edit changes that value, the edit is newer and the override is dropped (last
//     writer wins); an override equal to the YAML value is dropped as a no-op;
//   - a config key removed or rotated away stays removed (tombstone by fingerprint) while the
//     YAML still has it; once the YAML no longer has it, the tombstone goes;
//   - runtime-added keys are appended to their provider's keys; one that later appears in the
//     YAML is owned by the YAML from then on (the runtime copy is dropped, its id is unchanged).

// An enable/disable set at runtime.
struct EnabledOverride {
  bool enabled = true;
  bool config_value = true;  // what the YAML said when the override was set
  friend bool operator==(const EnabledOverride&, const EnabledOverride&) = default;
};

// A key added at runtime (AddKey, or the new key of a RotateKey).
struct RuntimeKey {
  std::string secret;       // the key itself (the state file is 0600 for this reason)
  std::string fingerprint;  // FingerprintOf(secret)
  uint32_t rpm_limit = 0;
  uint32_t tpm_limit = 0;
  uint32_t itpm_limit = 0;
  uint32_t otpm_limit = 0;
  uint32_t weight = 1;
  bool enabled = true;
  int64_t added_unix_ms = 0;
  friend bool operator==(const RuntimeKey&, const RuntimeKey&) = default;
};

struct ProviderOverrides {
  std::optional<EnabledOverride> enabled;
  std::map<std::string, EnabledOverride> key_enabled;  // config keys, by fingerprint
  std::set<std::string> removed_keys;                  // config keys (tombstones), by fingerprint
  std::vector<RuntimeKey> added_keys;                  // in order of addition
  bool empty() const {
    return !enabled.has_value() && key_enabled.empty() && removed_keys.empty() &&
           added_keys.empty();
  }
  friend bool operator==(const ProviderOverrides&, const ProviderOverrides&) = default;
};

struct RuntimeState {
  std::map<std::string, ProviderOverrides> providers;  // by provider name
  bool empty() const;
  friend bool operator==(const RuntimeState&, const RuntimeState&) = default;
};

// The state file's JSON (format 1, documented in SPEC.md).
std::string SerializeRuntimeState(const RuntimeState& state);
// Parses SerializeRuntimeState's output; anything malformed is InvalidArgument (never throws).
// Fingerprints of added keys are recomputed from the secrets.
absl::StatusOr<RuntimeState> ParseRuntimeState(std::string_view json);

// Reads the state file; a missing file is an empty state.
absl::StatusOr<RuntimeState> LoadStateFile(const std::string& path);
// Writes the state file atomically: a temporary file beside it (mode 0600), fsync, rename over
// the old one, fsync of the directory.
absl::Status SaveStateFile(const std::string& path, const RuntimeState& state);

}  // namespace ccrelay::controlplane
