#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

#include "proto/team.pb.h"

#include "controlplane/config/config_loader.h"
#include "controlplane/snapshot/snapshot_cache.h"
#include "controlplane/state/runtime_state.h"
#include "dataplane/common/clock.h"

namespace ccrelay::controlplane {

struct KeyLimitsSpec {
  uint32_t rpm_limit = 0;
  uint32_t tpm_limit = 0;
  uint32_t itpm_limit = 0;
  uint32_t otpm_limit = 0;
  uint32_t weight = 1;
};

// A key taken out of the snapshot (removed or rotated away) whose old version data planes may
// still be finishing requests on: listed as "draining" until every connected data plane has
// ACKed `removed_in_version`.
struct DrainingKey {
  std::string provider;
  std::string fingerprint;
  std::string source;  // config | runtime
  KeyLimitsSpec limits;
  uint64_t removed_in_version = 0;
  std::string reason;
};

struct ConfigStatusInfo {
  std::string path;  // "" = built-in default
  std::string state_file;
  int64_t loaded_unix_ms = 0;  // when the config in force was loaded
  bool last_reload_ok = true;
  int64_t last_reload_unix_ms = 0;
  // Reloads of the config file since start (the initial load not counted), by outcome.
  uint64_t reloads_ok = 0;
  uint64_t reloads_rejected = 0;
  std::vector<ConfigError> last_errors;
};

// The control plane's source of truth: the config snapshot (YAML), the runtime state (state
// file) and the effective snapshot built from both, published to the SnapshotCache on every
// change. Every mutation is serialised here: reloads and management calls. A change is checked
// (CheckEffectiveSnapshot) and persisted before it is published; one that fails leaves
// everything as it was. Thread-safe.
class ConfigStore {
 public:
  struct Options {
    std::string config_path;               // "" = the built-in default (nothing to reload)
    std::string state_file;                // "" = runtime changes are not persisted
    EnvLookup env;                         // for ${VAR}; default: the process environment
    const common::Clock* clock = nullptr;  // default: the real clock
    ccrelay::v1::Users users;              // the teammates at start (from the database)
  };

  // Loads the config (InvalidArgument listing every error, one per line, file:line:col) and the
  // state file (a corrupt one is an error: runtime keys are never dropped silently), and
  // publishes the first snapshot to `cache` (which must outlive the store).
  static absl::StatusOr<std::unique_ptr<ConfigStore>> Create(Options options, SnapshotCache* cache);

  // Re-reads the config file. Invalid: rejected whole (InvalidArgument with every error; each is
  // logged as config_reload_rejected and kept for Status()), the running config stays.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);
  // Reload() only if the file's bytes differ from the last load attempt (the watcher's entry:
  // events for other files of the directory, or a rejected file saved again unchanged, do
  // nothing).
  absl::Status ReloadIfChanged() ABSL_LOCKS_EXCLUDED(mu_);

  // Runtime changes (management API). NotFound for an unknown provider or key.
  absl::Status SetProviderEnabled(const std::string& provider, bool enabled);
  // Returns the new key's fingerprint. The key is trimmed of surrounding whitespace.
  absl::StatusOr<std::string> AddKey(const std::string& provider, std::string_view secret,
                                     const KeyLimitsSpec& limits);
  absl::Status RemoveKey(const std::string& provider, const std::string& fingerprint);
  // Adds `new_secret` and takes the old key out (draining). Limits default to the old key's.
  absl::StatusOr<std::string> RotateKey(const std::string& provider,
                                        const std::string& old_fingerprint,
                                        std::string_view new_secret,
                                        const std::optional<KeyLimitsSpec>& limits);
  absl::Status SetKeyEnabled(const std::string& provider, const std::string& fingerprint,
                             bool enabled);

  // Teammates (issue 15): replaces RoutingSnapshot.users (absent while there is none) and
  // publishes the effective snapshot (a new version when they changed). The users live in the
  // database, not in the state file; the caller serialises changes.
  void SetUsers(ccrelay::v1::Users users) ABSL_LOCKS_EXCLUDED(mu_);

  // Read side.
  SnapshotConstSharedPtr config() const;  // the YAML's snapshot (secrets inside: internal only)
  bool IsConfigKey(const std::string& provider, const std::string& fingerprint) const;
  bool HasProviderOverride(const std::string& provider) const;
  RuntimeState runtime_state() const;
  ConfigStatusInfo Status() const;
  // Draining keys; first drops those `done` says every data plane has moved past.
  std::vector<DrainingKey> Draining(const std::function<bool(uint64_t version)>& done);
  const std::string& config_path() const { return options_.config_path; }
  const std::string& state_file() const { return options_.state_file; }

 private:
  ConfigStore(Options options, SnapshotCache* cache);
  // Prunes, builds, checks, persists and publishes `next`; returns the version in force.
  absl::StatusOr<uint64_t> CommitLocked(RuntimeState next, std::string_view op,
                                        std::string_view provider, std::string_view key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ReloadLocked(std::string bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A key of the effective snapshot (NotFound otherwise), described as it would drain.
  absl::StatusOr<DrainingKey> DescribeKeyLocked(const std::string& provider,
                                                const std::string& fingerprint) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TakeOutLocked(const DrainingKey& key, RuntimeState* next) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The effective snapshot of `config` and `state` with the users.
  ccrelay::v1::RoutingSnapshot EffectiveLocked(const ccrelay::v1::RoutingSnapshot& config,
                                               const RuntimeState& state) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const common::Clock& clock_;
  SnapshotCache* const cache_;
  mutable absl::Mutex mu_;
  SnapshotConstSharedPtr config_ ABSL_GUARDED_BY(mu_);
  RuntimeState state_ ABSL_GUARDED_BY(mu_);
  ConfigStatusInfo status_ ABSL_GUARDED_BY(mu_);
  std::optional<std::string> last_bytes_ ABSL_GUARDED_BY(mu_);  // of the last load attempt
  std::vector<DrainingKey> draining_ ABSL_GUARDED_BY(mu_);
  ccrelay::v1::Users users_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ccrelay::controlplane
