#include "controlplane/management/provider_view.h"

#include <algorithm>

#include "controlplane/snapshot/snapshot_lookup.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane {
namespace {

using ccrelay::v1::Key;
using ccrelay::v1::KeyInfo;
using ccrelay::v1::Provider;
using ccrelay::v1::ProviderInfo;

void SetUsage(const KeyUsage& u, KeyInfo* info) {
  info->set_requests(u.requests);
  info->set_errors(u.errors);
  info->set_input_tokens(u.input_tokens);
  info->set_output_tokens(u.output_tokens);
  info->set_rpm_used(u.rpm_used);
  info->set_tpm_used(u.tpm_used);
}

void SetLimits(uint32_t rpm, uint32_t tpm, uint32_t itpm, uint32_t otpm, uint32_t weight,
               KeyInfo* info) {
  ccrelay::v1::KeyLimits* l = info->mutable_limits();
  l->set_rpm_limit(rpm);
  l->set_tpm_limit(tpm);
  l->set_itpm_limit(itpm);
  l->set_otpm_limit(otpm);
  l->set_weight(weight);
}

template <typename Info>
void SetCheck(const ccrelay::v1::CheckedHealth& h, Info* info) {
  info->set_check_state(std::string(CheckedStateName(h.state())));
  info->set_check_reason(h.reason());
  info->set_check_since_unix_ms(h.since_unix_ms());
}

}  // namespace

std::vector<ProviderInfo> BuildProviderInfos(const ProviderViewInputs& in) {
  std::vector<ProviderInfo> out;
  for (const Provider& p : in.effective.providers()) {
    ProviderInfo info;
    info.set_name(p.name());
    info.set_type(p.type());
    info.set_enabled(p.enabled());
    info.set_base_url(p.base_url());
    info.mutable_models()->CopyFrom(p.models());
    auto st = in.state.providers.find(p.name());
    info.set_source(st != in.state.providers.end() && st->second.enabled.has_value() ? "runtime"
                                                                                     : "config");
    int active = 0;
    int not_active = 0;
    for (const Key& k : p.keys()) {
      KeyInfo* ki = info.add_keys();
      ki->set_provider(p.name());
      ki->set_fingerprint(k.fingerprint());
      ki->set_source(HasKey(in.config, p.name(), k.fingerprint()) ? "config" : "runtime");
      SetLimits(k.rpm_limit(), k.tpm_limit(), k.itpm_limit(), k.otpm_limit(), k.weight(), ki);
      SetUsage(in.stats.Key(p.name(), k.fingerprint()), ki);
      const ccrelay::v1::CheckedHealth checked =
          in.checks != nullptr ? in.checks->Get(p.name(), k.fingerprint())
                               : ccrelay::v1::CheckedHealth();
      SetCheck(checked, ki);
      if (!k.enabled()) {
        ki->set_state("disabled");
        ki->set_reason("disabled (enabled: false)");
      } else if (auto h = in.stats.Health(p.name(), k.fingerprint()); h.has_value()) {
        ki->set_state(h->state);
        ki->set_reason(h->reason.empty() ? common::StrCat("reported by ", h->data_plane)
                                         : common::StrCat(h->reason, " (", h->data_plane, ")"));
      } else if (checked.state() == ccrelay::v1::CheckedHealth::AUTH_FAILED ||
                 checked.state() == ccrelay::v1::CheckedHealth::UNHEALTHY) {
        ki->set_state(checked.state() == ccrelay::v1::CheckedHealth::AUTH_FAILED ? "auth_failed"
                                                                                 : "failing");
        ki->set_reason(common::StrCat("health check: ", checked.reason()));
      } else {
        ki->set_state("active");
      }
      (ki->state() == "active" ? active : not_active) += 1;
    }
    for (const DrainingKey& d : in.draining) {
      if (d.provider != p.name()) {
        continue;
      }
      KeyInfo* ki = info.add_keys();
      ki->set_provider(d.provider);
      ki->set_fingerprint(d.fingerprint);
      ki->set_source(d.source);
      ki->set_state("draining");
      ki->set_reason(d.reason);
      SetLimits(d.limits.rpm_limit, d.limits.tpm_limit, d.limits.itpm_limit, d.limits.otpm_limit,
                d.limits.weight, ki);
      SetUsage(in.stats.Key(d.provider, d.fingerprint), ki);
    }
    const KeyUsage usage = in.stats.Provider(p.name());
    info.set_requests(usage.requests);
    info.set_errors(usage.errors);
    info.set_avg_latency_ms(usage.latency_count == 0
                                ? 0.0
                                : static_cast<double>(usage.latency_ms_sum) /
                                      static_cast<double>(usage.latency_count));
    const auto whole = in.stats.Health(p.name(), "");
    const ccrelay::v1::CheckedHealth checked =
        in.checks != nullptr ? in.checks->GetProvider(p.name()) : ccrelay::v1::CheckedHealth();
    SetCheck(checked, &info);
    bool no_credentials = false;
    bool refresh_failing = false;
    if (in.minted_credentials != nullptr) {
      if (auto it = in.minted_credentials->find(p.name()); it != in.minted_credentials->end()) {
        no_credentials = !it->second.credential.has_value();
        refresh_failing = it->second.consecutive_failures > 0;
        info.set_credentials(credentials::DescribeCredential(it->second, in.now_unix_ms));
      }
    }
    if (!p.enabled()) {
      info.set_health("disabled");
    } else if ((whole.has_value() && whole->state != "cooldown") ||
               checked.state() == ccrelay::v1::CheckedHealth::UNHEALTHY ||
               (p.keys_size() > 0 && active == 0) || no_credentials) {
      info.set_health("unhealthy");
    } else if (whole.has_value() || not_active > 0 || refresh_failing) {
      info.set_health("degraded");
    } else {
      info.set_health("healthy");
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace ccrelay::controlplane
