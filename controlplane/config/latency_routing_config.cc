#include "controlplane/config/latency_routing_config.h"

#include <cstdint>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"

namespace ccrelay::controlplane {

namespace {

constexpr uint64_t kMaxMarginMs = 3'600'000;
constexpr uint64_t kMaxExpectedOutput = 1'000'000;

// A whole number in 1..max; nullopt when absent or wrong (error reported).
std::optional<uint32_t> ReadPositive(ConfigReader& reader, const Field& field, uint64_t max) {
  std::optional<uint64_t> v = reader.Uint(field, max);
  if (!v.has_value()) {
    return std::nullopt;
  }
  if (*v == 0) {
    reader.Error(field, "must be at least 1");
    return std::nullopt;
  }
  return static_cast<uint32_t>(*v);
}

}  // namespace

void ReadLatencyRouting(ConfigReader& reader, const Field& field, ccrelay::v1::Routing* routing) {
  std::optional<Mapping> map =
      reader.Map(field, {"explore_share", "outlier_factor", "outlier_margin_ms", "tolerance",
                         "expected_output_tokens"});
  if (!map.has_value() || !field.present) {
    return;
  }
  ccrelay::v1::LatencyBased* out = routing->mutable_latency_based();

  const Field share = map->Get("explore_share");
  if (std::optional<double> v = reader.Number(share); v.has_value()) {
    if (*v < 0 || *v > 1) {
      reader.Error(share, absl::StrCat("must be between 0 and 1 (0 turns exploring off), got ",
                                       *v));
    } else {
      out->set_explore_share(*v);
    }
  }
  const Field factor = map->Get("outlier_factor");
  if (std::optional<double> v = reader.Number(factor); v.has_value()) {
    if (*v <= 1) {
      reader.Error(factor, absl::StrCat("must be above 1 (times the best estimate), got ", *v));
    } else {
      out->set_outlier_factor(*v);
    }
  }
  if (auto v = ReadPositive(reader, map->Get("outlier_margin_ms"), kMaxMarginMs)) {
    out->set_outlier_margin_ms(*v);
  }
  const Field tolerance = map->Get("tolerance");
  if (std::optional<double> v = reader.Number(tolerance); v.has_value()) {
    if (*v < 0 || *v > 10) {
      reader.Error(tolerance,
                   absl::StrCat("must be between 0 and 10 (a share of the best estimate), got ",
                                *v));
    } else {
      out->set_tolerance(*v);
    }
  }
  if (auto v = ReadPositive(reader, map->Get("expected_output_tokens"), kMaxExpectedOutput)) {
    out->set_expected_output_tokens(*v);
  }
}

}  // namespace ccrelay::controlplane
