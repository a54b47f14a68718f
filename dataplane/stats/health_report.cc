#include "dataplane/stats/health_report.h"

#include <cstdlib>

#include "proto/stream.pb.h"

#include "dataplane/routing/routing_table.h"
#include "dataplane/state/key_state.h"

namespace ccrelay::stats {

std::vector<ObservedTarget> ObserveHealth(const routing::RoutingTable& table,
                                          std::chrono::steady_clock::time_point now,
                                          int64_t now_unix_ms) {
  std::vector<ObservedTarget> out;
  for (const routing::ProviderEntry& p : table.providers) {
    ObservedTarget whole{p.name, "", "ok", "", 0};
    if (p.state && p.state->breaker.state(table.provider_breaker, now) ==
                       state::CircuitBreaker::State::kOpen) {
      whole.state = "failing";
      whole.reason = "circuit breaker open";
    }
    out.push_back(std::move(whole));
    for (const routing::KeyEntry& k : p.keys) {
      ObservedTarget t{p.name, k.secret.Fingerprint(), "ok", "", 0};
      if (k.state) {
        const state::KeyStatus st = k.state->Status(table.key_breaker, now);
        if (st.state == "auth_failed") {
          t.state = "disabled";
          t.reason = st.disabled_reason;
        } else if (st.state == "cooling") {
          t.state = "cooldown";
          t.reason = "429 from the upstream";
          t.until_unix_ms = now_unix_ms + st.available_in_ms;
        } else if (st.state == "circuit_open") {
          t.state = "failing";
          t.reason = "circuit breaker open";
        }
      }
      out.push_back(std::move(t));
    }
  }
  return out;
}

namespace {

bool SameObservation(const ObservedTarget& a, const ObservedTarget& b) {
  return a.state == b.state && a.reason == b.reason &&
         std::llabs(a.until_unix_ms - b.until_unix_ms) < HealthReporter::kUntilSlackMs;
}

void Add(const ObservedTarget& t, ccrelay::v1::HealthReport* report) {
  ccrelay::v1::HealthObservation* o = report->add_observations();
  o->set_provider(t.provider);
  o->set_key_fingerprint(t.key_fingerprint);
  o->set_state(t.state);
  o->set_reason(t.reason);
  o->set_until_unix_ms(t.until_unix_ms);
}

}  // namespace

bool HealthReporter::Take(const std::vector<ObservedTarget>& now, bool full,
                          ccrelay::v1::HealthReport* report) {
  std::map<std::pair<std::string, std::string>, ObservedTarget> next;
  for (const ObservedTarget& t : now) {
    next.emplace(std::make_pair(t.provider, t.key_fingerprint), t);
  }
  bool any = false;
  for (const auto& [id, t] : next) {
    auto it = last_.find(id);
    const bool changed = full ? t.state != "ok"
                              : (it == last_.end() ? t.state != "ok" : !SameObservation(it->second, t));
    if (changed) {
      Add(t, report);
      any = true;
    }
  }
  if (!full) {
    for (const auto& [id, t] : last_) {
      if (next.count(id) == 0 && t.state != "ok") {
        Add(ObservedTarget{id.first, id.second, "ok", "", 0}, report);
        any = true;
      }
    }
  }
  // A cooldown whose end moved by less than the slack keeps the reported end (no drift).
  for (auto& [id, t] : next) {
    auto it = last_.find(id);
    if (it != last_.end() && SameObservation(it->second, t)) {
      t = it->second;
    }
  }
  last_ = std::move(next);
  return any;
}

}  // namespace ccrelay::stats
