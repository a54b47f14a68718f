#include "dataplane/stats/key_metrics.h"

#include "dataplane/routing/routing_table.h"
#include "dataplane/state/key_state.h"

namespace ccrelay::stats {

namespace {

std::optional<double> Remaining(double available) {
  return available < 0 ? std::nullopt : std::optional<double>(available);  // -1: unlimited
}

}  // namespace

std::vector<KeySample> SampleKeys(const routing::RoutingTable& table,
                                  std::chrono::steady_clock::time_point now) {
  std::vector<KeySample> out;
  for (const routing::ProviderEntry& p : table.providers) {
    for (const routing::KeyEntry& k : p.keys) {
      KeySample s;
      s.provider = p.name;
      s.key = k.secret.Fingerprint();
      if (k.state) {
        const state::KeyStatus st = k.state->Status(table.key_breaker, now);
        s.requests = st.requests;
        s.failures = st.failures;
        s.state = st.state;
        s.cooldown_seconds = static_cast<double>(st.available_in_ms) / 1e3;
        s.limits = {
            {"rpm", static_cast<double>(st.limits.rpm), Remaining(st.rpm_available)},
            {"tpm", static_cast<double>(st.limits.tpm), Remaining(st.tpm_available)},
            {"itpm", static_cast<double>(st.limits.itpm), Remaining(st.itpm_available)},
            {"otpm", static_cast<double>(st.limits.otpm), Remaining(st.otpm_available)},
        };
      }
      out.push_back(std::move(s));
    }
  }
  return out;
}

}  // namespace ccrelay::stats
