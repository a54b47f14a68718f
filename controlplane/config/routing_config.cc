#include "controlplane/config/routing_config.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/strings/str_cat.h"

#include "controlplane/config/cost_routing_config.h"
#include "controlplane/config/did_you_mean.h"
#include "controlplane/config/latency_routing_config.h"
#include "controlplane/config/routing_rules_config.h"
#include "dataplane/routing/rules.h"

namespace ccrelay::controlplane {

namespace {

constexpr uint64_t kMinAttempts = 1;
constexpr uint64_t kMaxAttempts = 10;

std::optional<std::string> ReadStrategy(ConfigReader& reader, const Field& field) {
  std::optional<std::string> s = reader.String(field);
  if (!s.has_value()) {
    return std::nullopt;
  }
  if (*s == "shuffle" || *s == "simple-shuffle") {
    return "shuffle";
  }
  if (*s == "round-robin" || *s == "failover" || *s == "least-busy" || *s == "cost-based" ||
      *s == "latency-based") {
    return s;
  }
  reader.Error(field,
               absl::StrCat("unknown routing strategy ", ConfigReader::Quote(field, *s),
                            DidYouMeanSuffix(*s, {"shuffle", "simple-shuffle", "round-robin",
                                                  "failover", "least-busy", "cost-based",
                                                  "latency-based"}),
                            "; expected shuffle, round-robin, failover, least-busy, cost-based or "
                            "latency-based"));
  return std::nullopt;
}

// A provider name that must exist; nullopt (error reported) otherwise.
std::optional<std::string> ReadProviderRef(ConfigReader& reader, const Field& field,
                                           const std::vector<ReadProvider>& providers) {
  std::optional<std::string> name = reader.String(field);
  if (!name.has_value()) {
    return std::nullopt;
  }
  std::vector<std::string_view> names;
  for (const ReadProvider& p : providers) {
    if (p.provider.name() == *name) {
      return name;
    }
    names.push_back(p.provider.name());
  }
  reader.Error(field, absl::StrCat("no provider named ", ConfigReader::Quote(field, *name),
                                   DidYouMeanSuffix(*name, names)));
  return std::nullopt;
}

}  // namespace

std::optional<std::string> ReadStrategyName(ConfigReader& reader, const Field& field) {
  return ReadStrategy(reader, field);
}

std::optional<std::string> ReadProviderName(ConfigReader& reader, const Field& field,
                                            const std::vector<ReadProvider>& providers) {
  return ReadProviderRef(reader, field, providers);
}

ccrelay::v1::Routing DefaultRouting() {
  ccrelay::v1::Routing r;
  r.set_strategy("shuffle");
  r.set_max_attempts(3);
  r.set_session_affinity(true);
  r.set_session_affinity_ttl_ms(3600000);
  r.add_background_models(std::string(routing::kDefaultBackgroundModel));
  return r;
}

ccrelay::v1::Routing ReadRouting(ConfigReader& reader, const Field& field,
                                 const std::vector<ReadProvider>& providers) {
  ccrelay::v1::Routing routing = DefaultRouting();
  std::optional<Mapping> map =
      reader.Map(field, {"strategy", "failover", "max_attempts", "session_affinity",
                         "session_affinity_ttl_ms", "cost_based", "latency_based", "rules",
                         "background_models"});
  if (!map.has_value()) {
    return routing;
  }
  ReadRoutingRules(reader, map->Get("rules"), map->Get("background_models"), providers, &routing);
  const Field strategy_field = map->Get("strategy");
  std::optional<std::string> strategy = ReadStrategy(reader, strategy_field);
  if (strategy.has_value()) {
    routing.set_strategy(*strategy);
  }

  const Field attempts = map->Get("max_attempts");
  if (std::optional<uint64_t> v = reader.Uint(attempts, std::numeric_limits<uint64_t>::max());
      v.has_value()) {
    if (*v < kMinAttempts || *v > kMaxAttempts) {
      reader.Error(attempts, absl::StrCat("must be between ", kMinAttempts, " and ", kMaxAttempts,
                                          ", got ", *v));
    } else {
      routing.set_max_attempts(static_cast<uint32_t>(*v));
    }
  }

  if (std::optional<bool> v = reader.Bool(map->Get("session_affinity")); v.has_value()) {
    routing.set_session_affinity(*v);
  }
  const Field ttl = map->Get("session_affinity_ttl_ms");
  if (std::optional<uint64_t> v = reader.Uint(ttl, std::numeric_limits<uint32_t>::max());
      v.has_value()) {
    if (*v == 0) {
      reader.Error(ttl, "must be at least 1 (turn affinity off with session_affinity: false)");
    } else {
      routing.set_session_affinity_ttl_ms(static_cast<uint32_t>(*v));
    }
  }

  if (const Field cost = map->Get("cost_based"); cost.present) {
    ReadCostBased(reader, cost, routing.mutable_cost_based());
  }
  ReadLatencyRouting(reader, map->Get("latency_based"), &routing);

  std::optional<Mapping> failover = reader.Map(map->Get("failover"), {"primary", "fallbacks"});
  if (!failover.has_value()) {
    return routing;
  }
  const Field primary = failover->Get("primary");
  std::optional<std::string> primary_name;
  if (primary.present) {
    primary_name = ReadProviderRef(reader, primary, providers);
    if (primary_name.has_value()) {
      routing.set_failover_primary(*primary_name);
    }
  } else if (strategy == "failover") {
    reader.Error(primary, "required when routing.strategy is failover");
  }

  const Field fallbacks = failover->Get("fallbacks");
  std::optional<std::vector<Field>> items = reader.List(fallbacks);
  if (!items.has_value()) {
    return routing;
  }
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < items->size() && !reader.stopped(); ++i) {
    const Field& item = (*items)[i];
    std::optional<std::string> name = ReadProviderRef(reader, item, providers);
    if (!name.has_value()) {
      continue;
    }
    if (primary_name.has_value() && *name == *primary_name) {
      reader.Error(
          item, absl::StrCat(ConfigReader::Quote(item, *name), " is already the failover primary"));
      continue;
    }
    if (auto [pos, inserted] = seen.emplace(*name, i); !inserted) {
      reader.Error(item,
                   absl::StrCat("duplicate fallback ", ConfigReader::Quote(item, *name),
                                " (already at ", IndexPath(fallbacks.path, pos->second), ")"));
      continue;
    }
    routing.add_failover_fallbacks(*name);
  }
  return routing;
}

}  // namespace ccrelay::controlplane
