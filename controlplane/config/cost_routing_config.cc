#include "controlplane/config/cost_routing_config.h"

#include <limits>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane/common/str.h"

#include "dataplane/routing/model_catalog.h"

namespace ccrelay::controlplane {

namespace {

// Far above any model's window: a larger value is a typo.
constexpr uint64_t kMaxTokens = 100'000'000;

std::vector<std::string_view> TierNames() {
  return {std::begin(routing::kTierNames), std::end(routing::kTierNames)};
}

// A token count between 1 and kMaxTokens; nullopt (error reported, or absent) otherwise.
std::optional<uint64_t> ReadTokens(ConfigReader& reader, const Field& field,
                                   std::string_view absent_means) {
  std::optional<uint64_t> v = reader.Uint(field, std::numeric_limits<uint64_t>::max());
  if (!v.has_value()) {
    return std::nullopt;
  }
  if (*v == 0 || *v > kMaxTokens) {
    reader.Error(field, common::StrCat("must be between 1 and ", kMaxTokens, " tokens, got ", *v,
                                     " (leave it out for ", absent_means, ")"));
    return std::nullopt;
  }
  return v;
}

}  // namespace

void ReadCostBased(ConfigReader& reader, const Field& field, ccrelay::v1::CostBased* out) {
  std::optional<Mapping> map = reader.Map(field, {"threshold_tokens", "quality_floor"});
  if (!map.has_value()) {
    return;
  }
  if (std::optional<uint64_t> v =
          ReadTokens(reader, map->Get("threshold_tokens"), "no threshold");
      v.has_value()) {
    out->set_threshold_tokens(*v);
  }
  std::optional<Mapping> floor = reader.Map(map->Get("quality_floor"),
                                            {"default", "thinking", "tools"});
  if (!floor.has_value()) {
    return;
  }
  const std::vector<std::string_view> tiers = TierNames();
  if (auto v = reader.Enum(floor->Get("default"), tiers); v.has_value()) {
    out->set_floor_default(*v);
  }
  if (auto v = reader.Enum(floor->Get("thinking"), tiers); v.has_value()) {
    out->set_floor_thinking(*v);
  }
  if (auto v = reader.Enum(floor->Get("tools"), tiers); v.has_value()) {
    out->set_floor_tools(*v);
  }
}

void ReadProviderFit(ConfigReader& reader, const Mapping& provider, ccrelay::v1::Provider* p) {
  if (std::optional<uint64_t> v = ReadTokens(reader, provider.Get("context_window"),
                                             "the model's built-in window");
      v.has_value()) {
    p->set_context_window(*v);
  }
  if (auto v = reader.Enum(provider.Get("tier"), TierNames()); v.has_value()) {
    p->set_tier(*v);
  }
  const Field caps = provider.Get("capabilities");
  std::optional<std::vector<Field>> items = reader.List(caps);
  if (!items.has_value()) {
    return;
  }
  p->set_capabilities_set(true);
  const std::vector<std::string_view> names = routing::CapabilityNames();
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < items->size() && !reader.stopped(); ++i) {
    const Field& item = (*items)[i];
    std::optional<std::string> name = reader.Enum(item, names);
    if (!name.has_value()) {
      continue;
    }
    if (auto [pos, inserted] = seen.emplace(*name, i); !inserted) {
      reader.Error(item, common::StrCat("duplicate capability ", ConfigReader::Quote(item, *name),
                                      " (already at ", IndexPath(caps.path, pos->second), ")"));
      continue;
    }
    p->add_capabilities(*name);
  }
}

}  // namespace ccrelay::controlplane
