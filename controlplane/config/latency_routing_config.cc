#include "controlplane/config/latency_routing_config.h"

#include <cstdint>
#include <limits>
#include <optional>

#include "absl/strings/str_cat.h"

namespace ccrelay::controlplane {

namespace {

constexpr uint64_t kMaxMarginMs = 3'600'000;
constexpr uint64_t kMaxExpectedOutput = 1'000'000;

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
  const Field margin = map->Get("outlier_margin_ms");
  if (std::optional<uint64_t> v = reader.Uint(margin, kMaxMarginMs); v.has_value()) {
    if (*v == 0) {
      reader.Error(margin, "must be at least 1");
    } else {
      out->set_outlier_margin_ms(static_cast<uint32_t>(*v));
    }
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
  const Field expected = map->Get("expected_output_tokens");
  if (std::optional<uint64_t> v = reader.Uint(expected, kMaxExpectedOutput); v.has_value()) {
    if (*v == 0) {
      reader.Error(expected, "must be at least 1");
    } else {
      out->set_expected_output_tokens(static_cast<uint32_t>(*v));
    }
  }
}

}  // namespace ccrelay::controlplane
