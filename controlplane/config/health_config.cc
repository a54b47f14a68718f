#include "controlplane/config/health_config.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace ccrelay::controlplane {

namespace {

constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();

// An integer in [min, kMaxU32]; nullopt when absent or wrong (error reported).
std::optional<uint32_t> ReadBounded(ConfigReader& reader, const Field& field, uint64_t min) {
  std::optional<uint64_t> v = reader.Uint(field, kMaxU32);
  if (!v.has_value()) {
    return std::nullopt;
  }
  if (*v < min) {
    reader.Error(field, absl::StrCat("must be at least ", min, ", got ", *v));
    return std::nullopt;
  }
  return static_cast<uint32_t>(*v);
}

void ReadCircuitBreaker(ConfigReader& reader, const Field& field, ccrelay::v1::CircuitBreaker* cb) {
  std::optional<Mapping> map =
      reader.Map(field, {"failure_threshold", "failure_ratio", "min_requests", "window_ms",
                         "open_ms", "half_open_probes"});
  if (!map.has_value()) {
    return;
  }
  if (auto v = ReadBounded(reader, map->Get("failure_threshold"), 1)) {
    cb->set_failure_threshold(*v);
  }
  const Field ratio = map->Get("failure_ratio");
  if (std::optional<double> v = reader.Number(ratio); v.has_value()) {
    if (*v <= 0 || *v > 1) {
      reader.Error(ratio,
                   absl::StrCat("must be greater than 0 and at most 1 (0.5 = 50%), got ", *v));
    } else {
      cb->set_failure_ratio(*v);
    }
  }
  if (auto v = ReadBounded(reader, map->Get("min_requests"), 1)) {
    cb->set_min_requests(*v);
  }
  if (auto v = ReadBounded(reader, map->Get("window_ms"), 1)) {
    cb->set_window_ms(*v);
  }
  if (auto v = ReadBounded(reader, map->Get("open_ms"), 1)) {
    cb->set_open_ms(*v);
  }
  if (auto v = ReadBounded(reader, map->Get("half_open_probes"), 1)) {
    cb->set_half_open_probes(*v);
  }
}

void ReadChecks(ConfigReader& reader, const Field& field, ccrelay::v1::HealthChecks* checks) {
  std::optional<Mapping> map = reader.Map(
      field, {"interval_ms", "timeout_ms", "unhealthy_threshold", "healthy_threshold"});
  if (!map.has_value()) {
    return;
  }
  // 0 turns the checks off.
  if (auto v = ReadBounded(reader, map->Get("interval_ms"), 0)) {
    checks->set_interval_ms(*v);
  }
  if (auto v = ReadBounded(reader, map->Get("timeout_ms"), 1)) {
    checks->set_timeout_ms(*v);
  }
  if (auto v = ReadBounded(reader, map->Get("unhealthy_threshold"), 1)) {
    checks->set_unhealthy_threshold(*v);
  }
  if (auto v = ReadBounded(reader, map->Get("healthy_threshold"), 1)) {
    checks->set_healthy_threshold(*v);
  }
}

}  // namespace

ccrelay::v1::Health DefaultHealth() {
  ccrelay::v1::Health h;
  ccrelay::v1::CircuitBreaker* cb = h.mutable_circuit_breaker();
  cb->set_failure_threshold(5);
  cb->set_failure_ratio(0.5);
  cb->set_min_requests(10);
  cb->set_window_ms(30000);
  cb->set_open_ms(30000);
  cb->set_half_open_probes(1);
  h.set_cooldown_ms(10000);
  ccrelay::v1::HealthChecks* checks = h.mutable_checks();
  checks->set_interval_ms(60000);
  checks->set_timeout_ms(5000);
  checks->set_unhealthy_threshold(2);
  checks->set_healthy_threshold(1);
  return h;
}

ccrelay::v1::Health ReadHealth(ConfigReader& reader, const Field& field) {
  ccrelay::v1::Health health = DefaultHealth();
  std::optional<Mapping> map = reader.Map(field, {"circuit_breaker", "cooldown_ms", "checks"});
  if (!map.has_value()) {
    return health;
  }
  ReadCircuitBreaker(reader, map->Get("circuit_breaker"), health.mutable_circuit_breaker());
  if (auto v = ReadBounded(reader, map->Get("cooldown_ms"), 1)) {
    health.set_cooldown_ms(*v);
  }
  ReadChecks(reader, map->Get("checks"), health.mutable_checks());
  return health;
}

}  // namespace ccrelay::controlplane
