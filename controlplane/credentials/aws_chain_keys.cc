#include "controlplane/credentials/aws_chain_keys.h"

#include <utility>

#include "controlplane/credentials/aws_credential_chain.h"
#include "dataplane/common/log.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane::aws {

namespace {

std::string Settings(const ccrelay::v1::Provider& p) {
  return common::StrCat(p.aws_region(), "|", p.aws_profile(), "|", p.aws_sts_endpoint(), "|",
                        p.aws_imds_endpoint());
}

}  // namespace

bool UsesCredentialChain(const ccrelay::v1::Provider& p) {
  return p.enabled() && p.type() == "bedrock" && p.keys_size() == 0;
}

AwsChainKeys::AwsChainKeys(Deps deps) : deps_(std::move(deps)) {
  if (deps_.clock == nullptr) {
    deps_.clock = &common::RealClock::Get();
  }
  if (!deps_.factory) {
    deps_.factory = [env = deps_.env, clock = deps_.clock](
                        const ccrelay::v1::Provider& p, std::function<void()> on_change) {
      AwsCredentialChainOptions co;
      co.env = env;
      co.profile = p.aws_profile();
      co.region = p.aws_region();
      co.sts_endpoint = p.aws_sts_endpoint();
      co.imds_endpoint = p.aws_imds_endpoint();
      co.clock = clock;
      auto chain = std::make_shared<AwsCredentialChain>(std::move(co));
      AwsCredentialRefresherOptions ro;
      ro.name = p.name();
      ro.resolve = [chain] { return chain->Resolve(); };
      ro.on_change = std::move(on_change);
      ro.clock = clock;
      return std::make_unique<AwsCredentialRefresher>(std::move(ro));
    };
  }
  thread_ = std::thread([this] { SyncLoop(); });
}

AwsChainKeys::~AwsChainKeys() { Stop(); }

void AwsChainKeys::Stop() {
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

void AwsChainKeys::Sync(const ccrelay::v1::RoutingSnapshot& snapshot) {
  absl::MutexLock sync_lock(&sync_mu_);
  std::map<std::string, std::string> wanted;  // name -> settings
  std::map<std::string, const ccrelay::v1::Provider*> by_name;
  for (const ccrelay::v1::Provider& p : snapshot.providers()) {
    if (UsesCredentialChain(p)) {
      wanted.emplace(p.name(), Settings(p));
      by_name.emplace(p.name(), &p);
    }
  }
  // Stop what is no longer wanted (outside mu_: Stop joins the refresher's thread).
  std::vector<std::unique_ptr<AwsCredentialRefresher>> stopped;
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
    std::unique_ptr<AwsCredentialRefresher> r = deps_.factory(*by_name[name], deps_.on_change);
    // The first walk, synchronously: the next snapshot carries the credentials.
    const absl::Status st = r->Start();
    if (st.ok()) {
      const ccrelay::v1::AwsCredentials c = r->Credentials();
      CCR_LOG(kInfo, "aws_credentials", common::Q("provider", name), common::Q("source", c.source()),
              common::Q("key", common::FingerprintOf(c.access_key_id())));
    } else {
      CCR_LOG(kWarn, "aws_credentials_failed", common::Q("provider", name),
              common::Q("reason", st.message()));
    }
    absl::MutexLock lock(&mu_);
    Entry& e = entries_[name];
    e = Entry();
    e.settings = settings;
    e.refresher = std::move(r);
    changed = true;
  }
  if (changed && deps_.on_change) {
    deps_.on_change();
  }
}

void AwsChainKeys::SyncSoon(std::shared_ptr<const ccrelay::v1::RoutingSnapshot> snapshot) {
  absl::MutexLock lock(&pending_mu_);
  pending_ = std::move(snapshot);
  pending_cv_.Signal();
}

void AwsChainKeys::SyncLoop() {
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

bool AwsChainKeys::Applies(const ccrelay::v1::RoutingSnapshot& snapshot) {
  for (const ccrelay::v1::Provider& p : snapshot.providers()) {
    if (UsesCredentialChain(p)) {
      return true;
    }
  }
  return false;
}

void AwsChainKeys::Overlay(ccrelay::v1::RoutingSnapshot* snapshot) const {
  absl::MutexLock lock(&mu_);
  for (ccrelay::v1::Provider& p : *snapshot->mutable_providers()) {
    if (!UsesCredentialChain(p)) {
      continue;
    }
    auto it = entries_.find(p.name());
    if (it == entries_.end()) {
      continue;  // not started yet (the next Sync republishes)
    }
    const AwsCredentialState st = it->second.refresher->State();
    if (st.credentials.access_key_id().empty()) {
      ccrelay::v1::CheckedHealth* h = p.mutable_health();
      h->set_state(ccrelay::v1::CheckedHealth::UNHEALTHY);
      h->set_reason(common::StrCat("no AWS credentials: ",
                                   st.last_error.empty() ? "not resolved yet" : st.last_error));
      continue;
    }
    Entry& e = it->second;
    if (e.overlaid_key_id != st.credentials.access_key_id()) {
      e.overlaid_key_id = st.credentials.access_key_id();
      e.changed_unix_ms = deps_.clock->UnixMillis();
    }
    ccrelay::v1::Key* k = p.add_keys();
    k->set_id(common::StrCat(p.name(), "/aws-chain"));
    k->set_fingerprint(common::FingerprintOf(st.credentials.access_key_id()));
    k->set_weight(1);
    k->set_enabled(true);
    *k->mutable_aws() = st.credentials;
    // New credentials undo a refusal of the old ones (the health checker's own verdict, when it
    // has one for this key, replaces this).
    ccrelay::v1::CheckedHealth* h = k->mutable_health();
    h->set_state(ccrelay::v1::CheckedHealth::HEALTHY);
    h->set_reason(common::StrCat("AWS credentials from ", st.credentials.source()));
    h->set_since_unix_ms(e.changed_unix_ms);
  }
}

void AwsChainKeys::RefreshSoon(const std::string& provider) {
  absl::MutexLock lock(&mu_);
  if (auto it = entries_.find(provider); it != entries_.end()) {
    it->second.refresher->RefreshSoon();
  }
}

std::map<std::string, AwsCredentialState> AwsChainKeys::States() const {
  std::map<std::string, AwsCredentialState> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, e] : entries_) {
    out.emplace(name, e.refresher->State());
  }
  return out;
}

}  // namespace ccrelay::controlplane::aws
