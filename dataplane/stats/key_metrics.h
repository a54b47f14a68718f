#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccrelay::routing {
struct RoutingTable;
}

namespace ccrelay::stats {

// The states a key is exposed in, as ccrelay_key_state{state="..."} (1 for the current one, 0
// for the others): state::KeyStatus::state. Keep in step with it.
inline constexpr std::array<std::string_view, 6> kKeyStates = {
    "active", "low", "rate_limited", "cooling", "auth_failed", "circuit_open"};

// One rate limit of a key: the configured limit and, when known, what is left of it in the
// current window (rate-limit headroom).
struct KeyLimitSample {
  std::string_view limit;           // rpm | tpm | itpm | otpm
  double configured = 0;            // 0: no limit configured
  std::optional<double> remaining;  // unknown: not exposed
};

// What /metrics shows of one pooled key. Never the key itself: only its fingerprint.
struct KeySample {
  std::string provider;
  std::string key;  // fingerprint
  uint64_t requests = 0;
  uint64_t failures = 0;
  std::string state{kKeyStates[0]};
  double cooldown_seconds = 0;  // until a rate_limited / cooling key has headroom (0: has)
  std::vector<KeyLimitSample> limits;
};

// Reads every pooled key of the table's providers at scrape time, from the per-key state
// (dataplane/state) the table links to: the one place that maps state::KeyStatus to metrics.
std::vector<KeySample> SampleKeys(const routing::RoutingTable& table,
                                  std::chrono::steady_clock::time_point now);

}  // namespace ccrelay::stats
