#include "controlplane/snapshot/snapshot_builder.h"

#include <algorithm>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "controlplane/snapshot/snapshot_lookup.h"
#include "dataplane/common/str.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace ccrelay::controlplane {
namespace {

using ccrelay::v1::Key;
using ccrelay::v1::Provider;
using ccrelay::v1::RoutingSnapshot;
using common::StrCat;

// Drops an override that is stale (the YAML changed since) or a no-op (equals the YAML).
bool KeepOverride(const EnabledOverride& o, bool config_value) {
  return o.config_value == config_value && o.enabled != config_value;
}

std::string SerializeWithoutVersion(const RoutingSnapshot& s) {
  RoutingSnapshot copy = s;
  copy.set_version(0);
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  copy.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

}  // namespace

uint32_t DerivedProviderWeight(const Provider& provider) {
  uint64_t sum = 0;
  for (const Key& k : provider.keys()) {
    if (k.enabled()) {
      sum += k.weight();
    }
  }
  return static_cast<uint32_t>(std::clamp<uint64_t>(sum, 1, std::numeric_limits<uint32_t>::max()));
}

bool PruneRuntimeState(const RoutingSnapshot& config, RuntimeState* state) {
  bool changed = false;
  for (auto it = state->providers.begin(); it != state->providers.end();) {
    const Provider* p = FindProvider(config, it->first);
    if (p == nullptr) {
      it = state->providers.erase(it);
      changed = true;
      continue;
    }
    ProviderOverrides& o = it->second;
    if (o.enabled.has_value() && !KeepOverride(*o.enabled, p->enabled())) {
      o.enabled.reset();
      changed = true;
    }
    for (auto ke = o.key_enabled.begin(); ke != o.key_enabled.end();) {
      const Key* k = FindKey(*p, ke->first);
      if (k == nullptr || o.removed_keys.count(ke->first) != 0 ||
          !KeepOverride(ke->second, k->enabled())) {
        ke = o.key_enabled.erase(ke);
        changed = true;
      } else {
        ++ke;
      }
    }
    for (auto rk = o.removed_keys.begin(); rk != o.removed_keys.end();) {
      if (FindKey(*p, *rk) == nullptr) {
        rk = o.removed_keys.erase(rk);
        changed = true;
      } else {
        ++rk;
      }
    }
    std::unordered_set<std::string> seen;
    const size_t before = o.added_keys.size();
    o.added_keys.erase(std::remove_if(o.added_keys.begin(), o.added_keys.end(),
                                      [&](const RuntimeKey& k) {
                                        return FindKey(*p, k.fingerprint) != nullptr ||
                                               !seen.insert(k.fingerprint).second;
                                      }),
                       o.added_keys.end());
    changed = changed || o.added_keys.size() != before;
    if (o.empty()) {
      it = state->providers.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  return changed;
}

RoutingSnapshot BuildEffectiveSnapshot(const RoutingSnapshot& config, const RuntimeState& state) {
  RoutingSnapshot out = config;
  for (Provider& p : *out.mutable_providers()) {
    auto it = state.providers.find(p.name());
    if (it == state.providers.end()) {
      continue;
    }
    const ProviderOverrides& o = it->second;
    const bool derived_weight = p.weight() == DerivedProviderWeight(p);
    if (o.enabled.has_value()) {
      p.set_enabled(o.enabled->enabled);
    }
    auto* keys = p.mutable_keys();
    for (int i = keys->size() - 1; i >= 0; --i) {
      if (o.removed_keys.count(keys->Get(i).fingerprint()) != 0) {
        keys->DeleteSubrange(i, 1);
      }
    }
    for (Key& k : *keys) {
      if (auto ke = o.key_enabled.find(k.fingerprint()); ke != o.key_enabled.end()) {
        k.set_enabled(ke->second.enabled);
      }
    }
    for (const RuntimeKey& rk : o.added_keys) {
      if (FindKey(p, rk.fingerprint) != nullptr) {
        continue;  // the YAML owns it (PruneRuntimeState drops the runtime copy)
      }
      Key* k = keys->Add();
      k->set_id(StrCat(p.name(), "/", rk.fingerprint));
      k->set_secret(rk.secret);
      k->set_fingerprint(rk.fingerprint);
      k->set_rpm_limit(rk.rpm_limit);
      k->set_tpm_limit(rk.tpm_limit);
      k->set_itpm_limit(rk.itpm_limit);
      k->set_otpm_limit(rk.otpm_limit);
      k->set_weight(std::max<uint32_t>(1, rk.weight));
      k->set_enabled(rk.enabled);
    }
    if (derived_weight) {
      p.set_weight(DerivedProviderWeight(p));
    }
  }
  return out;
}

ccrelay::v1::Users BuildUsersSection(const std::vector<StoredUser>& users) {
  ccrelay::v1::Users out;
  for (const StoredUser& u : users) {
    ccrelay::v1::RelayUser* r = out.add_users();
    r->set_name(u.name);
    r->set_key_sha256(u.key_sha256);
    r->set_key_fingerprint(u.key_fingerprint);
    r->set_enabled(u.enabled);
    *r->mutable_policy() = u.policy;
  }
  out.set_key_header("x-cc-relay-key");
  out.set_required(!users.empty());
  return out;
}

absl::Status CheckEffectiveSnapshot(const RoutingSnapshot& snapshot) {
  std::unordered_map<std::string, bool> enabled;
  bool any_enabled = false;
  for (const Provider& p : snapshot.providers()) {
    enabled[p.name()] = p.enabled();
    any_enabled = any_enabled || p.enabled();
    if (p.enabled() && p.type() == "zai") {
      const bool has_key =
          std::any_of(p.keys().begin(), p.keys().end(), [](const Key& k) { return k.enabled(); });
      if (!has_key) {
        return absl::FailedPreconditionError(
            StrCat("provider ", p.name(), " (zai) would have no enabled key"));
      }
    }
  }
  if (!any_enabled) {
    return absl::FailedPreconditionError("no provider would be enabled");
  }
  const auto& r = snapshot.routing();
  if (r.strategy() == "failover") {
    bool chain = enabled[r.failover_primary()];
    for (const std::string& f : r.failover_fallbacks()) {
      chain = chain || enabled[f];
    }
    if (!chain) {
      return absl::FailedPreconditionError(
          "routing.failover: neither the primary nor a fallback would be an enabled provider");
    }
  }
  return absl::OkStatus();
}

bool SnapshotsDiffer(const RoutingSnapshot& a, const RoutingSnapshot& b) {
  return SerializeWithoutVersion(a) != SerializeWithoutVersion(b);
}

}  // namespace ccrelay::controlplane
