#include "controlplane/config/pricing_config.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "dataplane/routing/model_pattern.h"

namespace ccrelay::controlplane {

namespace {

// Far above any real price: a larger value is a typo that would make every dashboard
// meaningless.
constexpr double kMaxPerMtok = 1e6;

// A non-negative decimal number; nullopt (error reported) otherwise.
std::optional<double> ReadPrice(ConfigReader& reader, const Field& field) {
  std::optional<std::string> text = reader.String(field);
  if (!text.has_value()) {
    return std::nullopt;
  }
  double value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (text->empty() || ec != std::errc() || ptr != end || !std::isfinite(value) || value < 0 ||
      value > kMaxPerMtok) {
    reader.Error(field, absl::StrCat("expected a non-negative number of US dollars per million "
                                     "tokens (at most 1000000), got ",
                                     ConfigReader::Quote(field, *text)));
    return std::nullopt;
  }
  return value;
}

}  // namespace

void ReadPricing(ConfigReader& reader, const Field& field, ccrelay::v1::Provider* p) {
  std::optional<Mapping> map = reader.FreeMap(field);
  if (!map.has_value()) {
    return;
  }
  for (const Mapping::Entry& e : map->entries()) {
    if (absl::Status s = routing::ModelPattern::Validate(e.key); !s.ok()) {
      reader.Error(e.key_mark, e.value.path, std::string(s.message()));
      continue;
    }
    std::optional<Mapping> prices = reader.Map(
        e.value,
        {"input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok"});
    if (!prices.has_value()) {
      continue;
    }
    ccrelay::v1::ModelPrice price;
    price.set_model(e.key);
    bool ok = true;
    struct Slot {
      std::string_view key;
      void (ccrelay::v1::ModelPrice::*set)(double);
    };
    using M = ccrelay::v1::ModelPrice;
    for (const Slot& slot : {Slot{"input_per_mtok", &M::set_input_per_mtok},
                             Slot{"output_per_mtok", &M::set_output_per_mtok},
                             Slot{"cache_read_per_mtok", &M::set_cache_read_per_mtok},
                             Slot{"cache_write_per_mtok", &M::set_cache_write_per_mtok}}) {
      const Field f = prices->Get(slot.key);
      if (!f.present) {
        continue;
      }
      std::optional<double> v = ReadPrice(reader, f);
      ok = ok && v.has_value();
      (price.*slot.set)(v.value_or(0));
    }
    if (ok) {
      *p->add_pricing() = std::move(price);
    }
  }
}

}  // namespace ccrelay::controlplane
