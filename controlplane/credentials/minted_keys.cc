#include "controlplane/credentials/minted_keys.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/time/time.h"

#include "dataplane/common/log.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::credentials {
namespace {

using common::Q;
using common::StrCat;

// "expires in 43 min" / "valid for 12 min" / "... 90 s".
std::string TimeLeft(int64_t expires_unix_ms, int64_t now_unix_ms) {
  const int64_t left_s = std::max<int64_t>(0, (expires_unix_ms - now_unix_ms) / 1000);
  return left_s >= 120 ? StrCat(left_s / 60, " min") : StrCat(left_s, " s");
}

// "web identity, key 1a2b3c4d" / "service account a@b, token 1a2b3c4d".
std::string Identity(const MintedCredential& c) {
  return StrCat(c.source, c.key.has_aws() ? ", key " : ", token ", c.key.fingerprint());
}

// Why a provider has no credential: the source's last error.
std::string WhyNone(const CredentialState& st) {
  if (!st.last_error.empty()) {
    return st.last_error;
  }
  return st.expired ? "expired" : "not resolved yet";
}

}  // namespace

std::string DescribeCredential(const CredentialState& st, int64_t now_unix_ms) {
  if (!st.credential.has_value()) {
    return StrCat("none: ", WhyNone(st));
  }
  const MintedCredential& c = *st.credential;
  if (st.consecutive_failures == 0) {
    return c.expires_unix_ms > 0
               ? StrCat(Identity(c), ", expires in ", TimeLeft(c.expires_unix_ms, now_unix_ms))
               : Identity(c);
  }
  return StrCat(
      "refresh failing since ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(st.failing_since_unix_ms),
                       absl::UTCTimeZone()),
      " (", st.consecutive_failures,
      st.consecutive_failures == 1 ? " attempt): " : " attempts): ", st.last_error, "; ",
      Identity(c),
      c.expires_unix_ms > 0 ? StrCat(", valid for ", TimeLeft(c.expires_unix_ms, now_unix_ms))
                            : std::string(", does not expire"));
}

void StripControlPlaneOnly(ccrelay::v1::RoutingSnapshot* snapshot) {
  for (ccrelay::v1::Provider& p : *snapshot->mutable_providers()) {
    p.clear_token_source();
  }
}

MintedKeys::MintedKeys(Deps deps) : deps_(std::move(deps)) {
  if (deps_.clock == nullptr) {
    deps_.clock = &common::RealClock::Get();
  }
  thread_ = std::thread([this] { SyncLoop(); });
}

MintedKeys::~MintedKeys() { Stop(); }

void MintedKeys::Stop() {
  {
    absl::MutexLock lock(&pending_mu_);
    stopping_ = true;
    pending_cv_.SignalAll();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
  std::map<std::string, Entry> entries;
  {
    absl::MutexLock lock(&mu_);
    entries.swap(entries_);
  }
  for (auto& [name, e] : entries) {
    e.refresher->Stop();
  }
}

const Minter* MintedKeys::Find(const std::string& type) const {
  auto it = deps_.minters.find(type);
  return it == deps_.minters.end() ? nullptr : &it->second;
}

bool MintedKeys::Mints(const ccrelay::v1::Provider& p) const {
  return p.enabled() && p.keys_size() == 0 && Find(p.type()) != nullptr;
}

bool MintedKeys::Applies(const ccrelay::v1::RoutingSnapshot& snapshot) const {
  return std::any_of(snapshot.providers().begin(), snapshot.providers().end(),
                     [this](const ccrelay::v1::Provider& p) { return Mints(p); });
}

std::string MintedKeys::Settings(const Minter& m, const ccrelay::v1::Provider& p) const {
  return StrCat(p.type(), "|", m.settings ? m.settings(p) : p.token_source().SerializeAsString());
}

void MintedKeys::Sync(const ccrelay::v1::RoutingSnapshot& snapshot) {
  absl::MutexLock sync_lock(&sync_mu_);
  std::map<std::string, std::string> wanted;  // name -> settings
  std::map<std::string, const ccrelay::v1::Provider*> by_name;
  for (const ccrelay::v1::Provider& p : snapshot.providers()) {
    if (Mints(p)) {
      wanted.emplace(p.name(), Settings(*Find(p.type()), p));
      by_name.emplace(p.name(), &p);
    }
  }
  // Stop what is no longer wanted (outside mu_: Stop joins the refresher's thread).
  std::vector<std::unique_ptr<CredentialRefresher>> stopped;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      auto w = wanted.find(it->first);
      if (w == wanted.end() || w->second != it->second.settings) {
        stopped.push_back(std::move(it->second.refresher));
        it = entries_.erase(it);
      } else {
        wanted.erase(w);  // running with the same settings
        ++it;
      }
    }
  }
  for (auto& r : stopped) {
    r->Stop();
  }
  bool changed = !stopped.empty();
  for (const auto& [name, settings] : wanted) {
    const ccrelay::v1::Provider& p = *by_name[name];
    const Minter& m = *Find(p.type());
    CredentialRefresherOptions o = m.refresher;
    o.name = name;
    o.source = m.source ? std::shared_ptr<CredentialSource>(m.source(p)) : nullptr;
    o.on_change = deps_.on_change;
    o.clock = deps_.clock;
    if (o.source == nullptr) {
      CCR_LOG(kWarn, StrCat(o.log_prefix, "_failed"), Q("provider", name),
              Q("error", StrCat("no source of ", o.noun, " for provider type ", p.type())));
    }
    auto r = std::make_unique<CredentialRefresher>(std::move(o));
    // The first attempt, synchronously: the next snapshot carries the credential (the refresher
    // logs its outcome).
    (void)r->Start();
    absl::MutexLock lock(&mu_);
    Entry& e = entries_[name];
    e = Entry();
    e.settings = settings;
    e.key_suffix = m.key_suffix;
    e.refresher = std::move(r);
    changed = true;
  }
  if (changed && deps_.on_change) {
    deps_.on_change();
  }
}

void MintedKeys::SyncSoon(std::shared_ptr<const ccrelay::v1::RoutingSnapshot> snapshot) {
  absl::MutexLock lock(&pending_mu_);
  pending_ = std::move(snapshot);
  pending_cv_.Signal();
}

void MintedKeys::SyncLoop() {
  for (;;) {
    std::shared_ptr<const ccrelay::v1::RoutingSnapshot> next;
    {
      absl::MutexLock lock(&pending_mu_);
      while (!stopping_ && pending_ == nullptr) {
        pending_cv_.Wait(&pending_mu_);
      }
      if (stopping_) {
        return;
      }
      next = std::move(pending_);
    }
    Sync(*next);
  }
}

void MintedKeys::Overlay(ccrelay::v1::RoutingSnapshot* snapshot) const {
  absl::MutexLock lock(&mu_);
  for (ccrelay::v1::Provider& p : *snapshot->mutable_providers()) {
    if (!Mints(p)) {
      continue;
    }
    auto it = entries_.find(p.name());
    if (it == entries_.end()) {
      continue;  // not started yet (the next Sync republishes)
    }
    Entry& e = it->second;
    const CredentialState st = e.refresher->State();
    if (!st.credential.has_value()) {
      ccrelay::v1::CheckedHealth* h = p.mutable_health();
      h->set_state(ccrelay::v1::CheckedHealth::UNHEALTHY);
      h->set_reason(StrCat("no ", e.refresher->noun(), ": ", WhyNone(st)));
      continue;
    }
    const MintedCredential& c = *st.credential;
    if (e.overlaid_fingerprint != c.key.fingerprint()) {
      e.overlaid_fingerprint = c.key.fingerprint();
      e.changed_unix_ms = deps_.clock->UnixMillis();
    }
    ccrelay::v1::Key* k = p.add_keys();
    *k = c.key;
    k->set_id(StrCat(p.name(), "/", e.key_suffix));
    k->set_weight(1);
    k->set_enabled(true);
    k->set_expires_unix_ms(c.expires_unix_ms);
    // A new credential undoes a refusal of the old one (the health checker's own verdict, when
    // it has one for this key, replaces this).
    ccrelay::v1::CheckedHealth* h = k->mutable_health();
    h->set_state(ccrelay::v1::CheckedHealth::HEALTHY);
    h->set_reason(StrCat(e.refresher->noun(), " from ", c.source));
    h->set_since_unix_ms(e.changed_unix_ms);
  }
}

void MintedKeys::RefreshSoon(const std::string& provider) {
  absl::MutexLock lock(&mu_);
  if (auto it = entries_.find(provider); it != entries_.end()) {
    it->second.refresher->RefreshSoon();
  }
}

std::map<std::string, CredentialState> MintedKeys::States() const {
  std::map<std::string, CredentialState> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, e] : entries_) {
    out.emplace(name, e.refresher->State());
  }
  return out;
}

}  // namespace ccrelay::controlplane::credentials
