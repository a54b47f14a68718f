#include "controlplane/state/config_store.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "proto/snapshot.pb.h"

#include "controlplane/snapshot/snapshot_builder.h"
#include "controlplane/snapshot/snapshot_lookup.h"
#include "dataplane/common/log.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane {
namespace {

using ccrelay::v1::Key;
using ccrelay::v1::Provider;
using ccrelay::v1::RoutingSnapshot;
using common::F;
using common::Q;
using common::StrCat;

std::optional<std::string> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string JoinErrors(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const ConfigError& e : errors) {
    if (!out.empty()) {
      out += "\n";
    }
    out += e.ToString();
  }
  return out;
}

// A key as the operator sends it: surrounding whitespace (a trailing newline from a file or
// stdin) trimmed; anything else that is not a visible character is refused. The message never
// quotes the key.
absl::StatusOr<std::string> CleanSecret(std::string_view secret) {
  while (!secret.empty() && (secret.front() == ' ' || secret.front() == '\t' ||
                             secret.front() == '\n' || secret.front() == '\r')) {
    secret.remove_prefix(1);
  }
  while (!secret.empty() && (secret.back() == ' ' || secret.back() == '\t' ||
                             secret.back() == '\n' || secret.back() == '\r')) {
    secret.remove_suffix(1);
  }
  if (secret.empty()) {
    return absl::InvalidArgumentError("the key is empty");
  }
  for (char c : secret) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError("the key contains whitespace or control characters");
    }
  }
  return std::string(secret);
}

KeyLimitsSpec LimitsOf(const Key& k) {
  return KeyLimitsSpec{k.rpm_limit(), k.tpm_limit(), k.itpm_limit(), k.otpm_limit(),
                       std::max<uint32_t>(1, k.weight())};
}

RuntimeKey MakeRuntimeKey(const std::string& secret, const std::string& fingerprint,
                          const KeyLimitsSpec& limits, int64_t now_ms) {
  RuntimeKey k;
  k.secret = secret;
  k.fingerprint = fingerprint;
  k.rpm_limit = limits.rpm_limit;
  k.tpm_limit = limits.tpm_limit;
  k.itpm_limit = limits.itpm_limit;
  k.otpm_limit = limits.otpm_limit;
  k.weight = std::max<uint32_t>(1, limits.weight);
  k.enabled = true;
  k.added_unix_ms = now_ms;
  return k;
}

}  // namespace

ConfigStore::ConfigStore(Options options, SnapshotCache* cache)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : common::RealClock::Get()),
      cache_(cache) {}

absl::StatusOr<std::unique_ptr<ConfigStore>> ConfigStore::Create(Options options,
                                                                 SnapshotCache* cache) {
  if (!options.env) {
    options.env = ProcessEnv();
  }
  std::unique_ptr<ConfigStore> store(new ConfigStore(std::move(options), cache));
  const Options& o = store->options_;
  RoutingSnapshot config;
  std::optional<std::string> bytes;
  if (o.config_path.empty()) {
    config = BuiltinDefaultSnapshot();
  } else {
    bytes = ReadBytes(o.config_path);
    LoadResult r = LoadConfigFile(o.config_path, o.env);
    if (!r.ok()) {
      return absl::InvalidArgumentError(JoinErrors(r.errors));
    }
    config = *std::move(r.snapshot);
  }
  RuntimeState state;
  if (!o.state_file.empty()) {
    ASSIGN_OR_RETURN(state, LoadStateFile(o.state_file));
  }
  absl::MutexLock lock(&store->mu_);
  store->users_ = o.users;
  if (PruneRuntimeState(config, &state)) {
    CCR_LOG(kInfo, "runtime_state_pruned", Q("state_file", o.state_file),
            Q("reason", "providers or keys no longer in the config"));
    if (!o.state_file.empty()) {
      if (absl::Status st = SaveStateFile(o.state_file, state); !st.ok()) {
        CCR_LOG(kWarn, "state_file_write_failed", Q("error", st.message()));
      }
    }
  }
  RoutingSnapshot effective = store->EffectiveLocked(config, state);
  if (absl::Status st = CheckEffectiveSnapshot(effective); !st.ok()) {
    return absl::FailedPreconditionError(
        StrCat("the config with the runtime changes of ", o.state_file, ": ", st.message()));
  }
  store->config_ = std::make_shared<const RoutingSnapshot>(std::move(config));
  store->state_ = std::move(state);
  store->last_bytes_ = std::move(bytes);
  store->status_.path = o.config_path;
  store->status_.state_file = o.state_file;
  store->status_.loaded_unix_ms = store->clock_.UnixMillis();
  store->status_.last_reload_unix_ms = store->status_.loaded_unix_ms;
  cache->SetSnapshot(effective);
  return store;
}

absl::Status ConfigStore::Reload() {
  absl::MutexLock lock(&mu_);
  if (options_.config_path.empty()) {
    CCR_LOG(kInfo, "reload_skipped", Q("reason", "no config file (built-in default)"));
    return absl::OkStatus();
  }
  return ReloadLocked(ReadBytes(options_.config_path).value_or(""));
}

absl::Status ConfigStore::ReloadIfChanged() {
  absl::MutexLock lock(&mu_);
  if (options_.config_path.empty()) {
    return absl::OkStatus();
  }
  std::optional<std::string> bytes = ReadBytes(options_.config_path);
  if (!bytes.has_value()) {
    // Mid-swap (deleted, not yet renamed in): the next event brings the new file.
    return absl::OkStatus();
  }
  if (last_bytes_.has_value() && *last_bytes_ == *bytes) {
    return absl::OkStatus();
  }
  return ReloadLocked(*std::move(bytes));
}

absl::Status ConfigStore::ReloadLocked(std::string bytes) {
  last_bytes_ = std::move(bytes);
  const int64_t now = clock_.UnixMillis();
  status_.last_reload_unix_ms = now;
  LoadResult r = LoadConfigFile(options_.config_path, options_.env);
  std::vector<ConfigError> errors = r.errors;
  RuntimeState next = state_;
  RoutingSnapshot effective;
  if (r.ok()) {
    PruneRuntimeState(*r.snapshot, &next);
    effective = EffectiveLocked(*r.snapshot, next);
    if (absl::Status st = CheckEffectiveSnapshot(effective); !st.ok()) {
      ConfigError e;
      e.file = options_.config_path;
      e.message = StrCat("with the runtime changes of ", options_.state_file, ": ", st.message());
      errors.push_back(std::move(e));
    }
  }
  if (!errors.empty()) {
    for (const ConfigError& e : errors) {
      CCR_LOG(kError, "config_reload_rejected", Q("error", e.ToString()));
    }
    status_.last_reload_ok = false;
    ++status_.reloads_rejected;
    status_.last_errors = errors;
    return absl::InvalidArgumentError(JoinErrors(errors));
  }
  if (next != state_ && !options_.state_file.empty()) {
    if (absl::Status st = SaveStateFile(options_.state_file, next); !st.ok()) {
      // Only overrides were dropped; the next start prunes them again.
      CCR_LOG(kWarn, "state_file_write_failed", Q("error", st.message()));
    }
  }
  config_ = std::make_shared<const RoutingSnapshot>(*std::move(r.snapshot));
  state_ = std::move(next);
  status_.last_reload_ok = true;
  ++status_.reloads_ok;
  status_.last_errors.clear();
  status_.loaded_unix_ms = now;
  const uint64_t before = cache_->version();
  const uint64_t version = cache_->SetSnapshot(effective);
  CCR_LOG(kInfo, "config_reloaded", Q("source", options_.config_path), F("version", version),
          F("changed", version != before), F("providers", config_->providers_size()));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ConfigStore::CommitLocked(RuntimeState next, std::string_view op,
                                                   std::string_view provider,
                                                   std::string_view key) {
  PruneRuntimeState(*config_, &next);
  RoutingSnapshot effective = EffectiveLocked(*config_, next);
  RETURN_IF_ERROR(CheckEffectiveSnapshot(effective));
  if (next != state_ && !options_.state_file.empty()) {
    RETURN_IF_ERROR(SaveStateFile(options_.state_file, next));
  }
  state_ = std::move(next);
  const uint64_t version = cache_->SetSnapshot(effective);
  CCR_LOG(kInfo, "runtime_change", F("op", op), F("provider", provider), F("key", key),
          F("version", version), F("persisted", !options_.state_file.empty()));
  return version;
}

absl::Status ConfigStore::SetProviderEnabled(const std::string& provider, bool enabled) {
  absl::MutexLock lock(&mu_);
  const Provider* p = FindProvider(*config_, provider);
  if (p == nullptr) {
    return absl::NotFoundError(StrCat("no provider \"", provider, "\""));
  }
  RuntimeState next = state_;
  next.providers[provider].enabled = EnabledOverride{enabled, p->enabled()};
  return CommitLocked(std::move(next), enabled ? "enable_provider" : "disable_provider", provider,
                      "")
      .status();
}

absl::StatusOr<std::string> ConfigStore::AddKey(const std::string& provider,
                                                std::string_view secret,
                                                const KeyLimitsSpec& limits) {
  ASSIGN_OR_RETURN(std::string clean, CleanSecret(secret));
  absl::MutexLock lock(&mu_);
  const Provider* p = FindProvider(*config_, provider);
  if (p == nullptr) {
    return absl::NotFoundError(StrCat("no provider \"", provider, "\""));
  }
  const std::string fp = common::FingerprintOf(clean);
  RuntimeState next = state_;
  ProviderOverrides& o = next.providers[provider];
  if (const Key* existing = FindKey(*p, fp); existing != nullptr) {
    if (o.removed_keys.erase(fp) == 0) {
      return absl::AlreadyExistsError(
          StrCat("provider ", provider, " already has the key ", fp, " (in the config)"));
    }
    if (existing->secret() != clean) {
      return absl::AlreadyExistsError(
          StrCat("provider ", provider, " has a different key with the fingerprint ", fp));
    }
    // A removed config key comes back: the YAML's settings apply again.
  } else {
    if (std::any_of(o.added_keys.begin(), o.added_keys.end(),
                    [&](const RuntimeKey& k) { return k.fingerprint == fp; })) {
      return absl::AlreadyExistsError(StrCat("provider ", provider, " already has the key ", fp));
    }
    o.added_keys.push_back(MakeRuntimeKey(clean, fp, limits, clock_.UnixMillis()));
  }
  RETURN_IF_ERROR(CommitLocked(std::move(next), "add_key", provider, fp).status());
  draining_.erase(std::remove_if(draining_.begin(), draining_.end(),
                                 [&](const DrainingKey& d) {
                                   return d.provider == provider && d.fingerprint == fp;
                                 }),
                  draining_.end());
  return fp;
}

absl::StatusOr<DrainingKey> ConfigStore::DescribeKeyLocked(const std::string& provider,
                                                           const std::string& fingerprint) const {
  SnapshotConstSharedPtr effective = cache_->Current();
  const Provider* p = effective != nullptr ? FindProvider(*effective, provider) : nullptr;
  if (p == nullptr) {
    return absl::NotFoundError(StrCat("no provider \"", provider, "\""));
  }
  const Key* k = FindKey(*p, fingerprint);
  if (k == nullptr) {
    return absl::NotFoundError(StrCat("provider ", provider, " has no key ", fingerprint));
  }
  DrainingKey d;
  d.provider = provider;
  d.fingerprint = fingerprint;
  const Provider* cp = FindProvider(*config_, provider);
  d.source = cp != nullptr && FindKey(*cp, fingerprint) != nullptr ? "config" : "runtime";
  d.limits = LimitsOf(*k);
  return d;
}

// Takes a key out of `next` (tombstone for a config key, deletion for a runtime one).
void ConfigStore::TakeOutLocked(const DrainingKey& key, RuntimeState* next) const {
  ProviderOverrides& o = next->providers[key.provider];
  if (key.source == "config") {
    o.removed_keys.insert(key.fingerprint);
    o.key_enabled.erase(key.fingerprint);
  } else {
    o.added_keys.erase(
        std::remove_if(o.added_keys.begin(), o.added_keys.end(),
                       [&](const RuntimeKey& k) { return k.fingerprint == key.fingerprint; }),
        o.added_keys.end());
  }
}

absl::Status ConfigStore::RemoveKey(const std::string& provider, const std::string& fingerprint) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(DrainingKey d, DescribeKeyLocked(provider, fingerprint));
  RuntimeState next = state_;
  TakeOutLocked(d, &next);
  ASSIGN_OR_RETURN(d.removed_in_version,
                   CommitLocked(std::move(next), "remove_key", provider, fingerprint));
  d.reason =
      StrCat("removed in version ", d.removed_in_version, "; requests in flight on it finish");
  draining_.push_back(std::move(d));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ConfigStore::RotateKey(const std::string& provider,
                                                   const std::string& old_fingerprint,
                                                   std::string_view new_secret,
                                                   const std::optional<KeyLimitsSpec>& limits) {
  ASSIGN_OR_RETURN(std::string clean, CleanSecret(new_secret));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(DrainingKey d, DescribeKeyLocked(provider, old_fingerprint));
  const std::string fp = common::FingerprintOf(clean);
  if (fp == old_fingerprint) {
    return absl::InvalidArgumentError("the new key is the old key");
  }
  if (DescribeKeyLocked(provider, fp).ok()) {
    return absl::AlreadyExistsError(StrCat("provider ", provider, " already has the key ", fp));
  }
  RuntimeState next = state_;
  TakeOutLocked(d, &next);
  ProviderOverrides& o = next.providers[provider];
  const Provider* cp = FindProvider(*config_, provider);
  if (const Key* existing = cp != nullptr ? FindKey(*cp, fp) : nullptr; existing != nullptr) {
    if (existing->secret() != clean) {
      return absl::AlreadyExistsError(
          StrCat("provider ", provider, " has a different key with the fingerprint ", fp));
    }
    o.removed_keys.erase(fp);  // rotating back to a removed config key
  } else {
    o.added_keys.push_back(
        MakeRuntimeKey(clean, fp, limits.value_or(d.limits), clock_.UnixMillis()));
  }
  ASSIGN_OR_RETURN(d.removed_in_version, CommitLocked(std::move(next), "rotate_key", provider,
                                                      StrCat(old_fingerprint, "->", fp)));
  d.reason = StrCat("rotated to ", fp, " in version ", d.removed_in_version,
                    "; requests in flight on it finish");
  draining_.erase(std::remove_if(draining_.begin(), draining_.end(),
                                 [&](const DrainingKey& x) {
                                   return x.provider == provider && x.fingerprint == fp;
                                 }),
                  draining_.end());
  draining_.push_back(std::move(d));
  return fp;
}

absl::Status ConfigStore::SetKeyEnabled(const std::string& provider, const std::string& fingerprint,
                                        bool enabled) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(DrainingKey d, DescribeKeyLocked(provider, fingerprint));
  RuntimeState next = state_;
  ProviderOverrides& o = next.providers[provider];
  if (d.source == "config") {
    const Key* k = FindKey(*FindProvider(*config_, provider), fingerprint);
    o.key_enabled[fingerprint] = EnabledOverride{enabled, k->enabled()};
  } else {
    for (RuntimeKey& k : o.added_keys) {
      if (k.fingerprint == fingerprint) {
        k.enabled = enabled;
      }
    }
  }
  return CommitLocked(std::move(next), enabled ? "enable_key" : "disable_key", provider,
                      fingerprint)
      .status();
}

RoutingSnapshot ConfigStore::EffectiveLocked(const RoutingSnapshot& config,
                                             const RuntimeState& state) const {
  RoutingSnapshot effective = BuildEffectiveSnapshot(config, state);
  if (users_.users_size() > 0) {
    *effective.mutable_users() = users_;
  }
  return effective;
}

void ConfigStore::SetUsers(ccrelay::v1::Users users) {
  absl::MutexLock lock(&mu_);
  users_ = std::move(users);
  const uint64_t before = cache_->version();
  const uint64_t version = cache_->SetSnapshot(EffectiveLocked(*config_, state_));
  CCR_LOG(kInfo, "users_published", F("users", users_.users_size()), F("version", version),
          F("changed", version != before));
}

SnapshotConstSharedPtr ConfigStore::config() const {
  absl::MutexLock lock(&mu_);
  return config_;
}

bool ConfigStore::IsConfigKey(const std::string& provider, const std::string& fingerprint) const {
  absl::MutexLock lock(&mu_);
  return HasKey(*config_, provider, fingerprint);
}

bool ConfigStore::HasProviderOverride(const std::string& provider) const {
  absl::MutexLock lock(&mu_);
  auto it = state_.providers.find(provider);
  return it != state_.providers.end() && it->second.enabled.has_value();
}

RuntimeState ConfigStore::runtime_state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

ConfigStatusInfo ConfigStore::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

std::vector<DrainingKey> ConfigStore::Draining(const std::function<bool(uint64_t)>& done) {
  absl::MutexLock lock(&mu_);
  draining_.erase(
      std::remove_if(draining_.begin(), draining_.end(),
                     [&](const DrainingKey& d) { return done && done(d.removed_in_version); }),
      draining_.end());
  return draining_;
}

}  // namespace ccrelay::controlplane
