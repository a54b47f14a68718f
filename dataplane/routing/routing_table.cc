#include "dataplane/routing/routing_table.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "proto/snapshot.pb.h"
#include "dataplane/common/status_macros.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/providers/provider.h"
#include "dataplane/common/log.h"
#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"

namespace ccrelay::routing {

namespace {
// created / created_at of /v1/models entries: the relay does not know when a model was released;
// a fixed instant keeps the list stable across restarts.
constexpr int64_t kModelCreated = 1737500000;
constexpr std::string_view kModelCreatedAt = "2025-01-21T22:53:20Z";

std::chrono::milliseconds Ms(uint32_t v, std::chrono::milliseconds dflt) {
  return v == 0 ? dflt : std::chrono::milliseconds(v);
}

CheckState ToCheckState(ccrelay::v1::CheckedHealth::State s) {
  switch (s) {
    case ccrelay::v1::CheckedHealth::HEALTHY:
      return CheckState::kHealthy;
    case ccrelay::v1::CheckedHealth::UNHEALTHY:
      return CheckState::kUnhealthy;
    case ccrelay::v1::CheckedHealth::AUTH_FAILED:
      return CheckState::kAuthFailed;
    default:
      return CheckState::kUnknown;
  }
}
// providers[].context_window, tier, capabilities (validated by the config reader; anything
// unknown here is ignored).
void CompileFit(const ccrelay::v1::Provider& p, ProviderFitConfig* fit) {
  fit->context_window = static_cast<int64_t>(p.context_window());
  ParseTier(p.tier(), &fit->tier);
  fit->capabilities_set = p.capabilities_set();
  for (const auto& c : p.capabilities()) {
    fit->capabilities |= CapabilityBit(c);
  }
}

// Snapshot Users against the compiled providers and rules.
void CompileUsers(const ccrelay::v1::Users& users, state::StateRegistry& states,
                  const absl::flat_hash_map<std::string, uint32_t>& index_by_name,
                  RoutingTable* table) {
  RelayUsers& out = table->users;
  if (!users.key_header().empty()) {
    out.key_header = absl::AsciiStrToLower(users.key_header());
  }
  out.required = users.required();
  const auto now = std::chrono::steady_clock::now();
  for (const ccrelay::v1::RelayUser& u : users.users()) {
    if (u.key_sha256().size() != 32) {
      CCR_LOG(kWarn, "relay_user_skipped", common::F("user", u.name()),
              common::Q("reason", "key_sha256 is not 32 bytes"));
      continue;
    }
    CompiledUser c;
    c.name = u.name();
    c.fingerprint = u.key_fingerprint();
    c.key_sha256 = u.key_sha256();
    c.enabled = u.enabled();
    const ccrelay::v1::UserPolicy& p = u.policy();
    for (const std::string& m : p.allowed_models()) {
      c.allowed_models.emplace_back(m);
    }
    if (p.allowed_providers_size() > 0) {
      c.provider_allowed.assign(table->providers.size(), 0);
      for (const std::string& name : p.allowed_providers()) {
        if (auto it = index_by_name.find(name); it != index_by_name.end()) {
          c.provider_allowed[it->second] = 1;
        }
      }
    }
    if (p.allowed_rules_size() > 0) {
      c.rule_allowed.assign(std::max<size_t>(1, table->rules.size()), 0);
      c.default_route_allowed = false;
      for (const std::string& name : p.allowed_rules()) {
        if (name.empty()) {
          c.default_route_allowed = true;
        }
        for (size_t i = 0; i < table->rules.size(); ++i) {
          if (table->rules[i].name == name) {
            c.rule_allowed[i] = 1;
          }
        }
      }
    }
    c.rpm_limit = p.rpm_limit();
    c.tpm_limit = p.tpm_limit();
    const ccrelay::v1::Budget& b = p.budget();
    c.has_budget = b.usd_per_day() > 0 || b.usd_per_month() > 0 || b.tokens_per_day() > 0 ||
                   b.tokens_per_month() > 0;
    c.state = states.User(c.name);
    c.state->SetLimits(c.rpm_limit, c.tpm_limit, now);
    std::string hash = c.key_sha256;
    out.by_key_sha256.insert_or_assign(std::move(hash), std::move(c));
  }
}

void CompileCostBased(const ccrelay::v1::CostBased& c, CostBasedOptions* out) {
  out->threshold_tokens = static_cast<int64_t>(c.threshold_tokens());
  ParseTier(c.floor_default(), &out->floor_default);
  ParseTier(c.floor_thinking(), &out->floor_thinking);
  ParseTier(c.floor_tools(), &out->floor_tools);
}
}  // namespace


bool CompiledUser::AllowsModel(std::string_view model) const {
  if (allowed_models.empty()) {
    return true;
  }
  for (const Glob& g : allowed_models) {
    if (g.Matches(model)) {
      return true;
    }
  }
  return false;
}

bool ProviderEntry::Serves(std::string_view model) const {
  if (models.empty()) {
    return true;
  }
  if (std::find(models.begin(), models.end(), model) != models.end()) {
    return true;
  }
  for (const ModelRule& rule : model_mapping) {
    if (rule.from.Matches(model) || (adapter->ListsDeployments() && rule.to == model)) {
      return true;
    }
  }
  return false;
}

std::string_view ProviderEntry::MapModel(std::string_view model) const {
  for (const ModelRule& rule : model_mapping) {
    if (rule.from.Matches(model)) {
      return rule.to;
    }
  }
  return model;
}

void RoutingTable::Eligible(std::string_view model, bool count_tokens,
                            std::vector<uint32_t>* out) const {
  out->clear();
  for (uint32_t i = 0; i < providers.size(); ++i) {
    const ProviderEntry& p = providers[i];
    if (count_tokens && !p.adapter->SupportsCountTokens()) {
      continue;
    }
    if (p.Serves(model)) {
      out->push_back(i);
    }
  }
  if (!out->empty()) {
    return;
  }
  for (uint32_t i = 0; i < providers.size(); ++i) {
    if (!count_tokens || providers[i].adapter->SupportsCountTokens()) {
      out->push_back(i);
    }
  }
}

RoutingTableConstSharedPtr BootstrapRoutingTable() {
  auto table = std::make_shared<RoutingTable>();
  table->source = "none (waiting for the control plane)";
  table->strategy = CreateStrategy("shuffle");
  return table;
}

// The steady-clock time at which a credential expiring at `expires_unix_ms` is set aside.
common::MonoTime UsableUntil(int64_t expires_unix_ms, const common::Clock& clock) {
  const auto left = std::chrono::milliseconds(expires_unix_ms - clock.UnixMillis());
  // Short-lived credentials (seconds, in tests) keep most of their life.
  const auto margin = std::min<std::chrono::milliseconds>(
      kExpiryMargin, std::max<std::chrono::milliseconds>(left / 4, std::chrono::milliseconds(0)));
  return clock.Now() + (left - margin);
}

bool ProviderEntry::AllKeysExpired(common::MonoTime now, int64_t* expired_unix_ms) const {
  if (keys.empty()) {
    return false;
  }
  int64_t latest = 0;
  for (const KeyEntry& k : keys) {
    if (!k.expired(now)) {
      return false;
    }
    latest = std::max(latest, k.expires_unix_ms);
  }
  *expired_unix_ms = latest;
  return true;
}

absl::StatusOr<RoutingTableConstSharedPtr> CompileRoutingTable(
    const ccrelay::v1::RoutingSnapshot& snapshot, state::StateRegistry& states,
    const common::Clock* clock) {
  const common::Clock& wall = clock != nullptr ? *clock : common::RealClock::Get();
  auto table = std::make_shared<RoutingTable>();
  table->version = snapshot.version();
  table->source = snapshot.source();
  const auto& server = snapshot.server();
  table->listen = server.listen();
  table->auth.api_key = common::Secret(server.auth().api_key());
  table->auth.allow_subscription = server.auth().allow_subscription();
  table->auth.allow_bearer = server.auth().allow_bearer();
  table->auth.bearer_secret = common::Secret(server.auth().bearer_secret());
  if (server.max_body_bytes() != 0) {
    table->max_body_bytes = server.max_body_bytes();
  }
  if (server.max_header_bytes() != 0) {
    table->max_header_bytes = server.max_header_bytes();
  }
  const auto& t = server.timeouts();
  Timeouts d;
  table->timeouts = Timeouts{Ms(t.connect_ms(), d.connect),
                             Ms(t.first_byte_ms(), d.first_byte),
                             Ms(t.first_byte_non_stream_ms(), d.first_byte_non_stream),
                             Ms(t.idle_ms(), d.idle),
                             Ms(t.total_ms(), d.total),
                             Ms(t.request_header_ms(), d.request_header),
                             Ms(t.request_body_ms(), d.request_body),
                             Ms(t.keepalive_ms(), d.keepalive),
                             Ms(t.drain_ms(), d.drain),
                             Ms(t.upstream_idle_pool_ms(), d.upstream_idle_pool)};

  absl::flat_hash_map<std::string, upstream::TlsContextSharedPtr> tls_by_ca;
  absl::flat_hash_map<std::string, uint32_t> index_by_name;
  for (const auto& p : snapshot.providers()) {
    if (!p.enabled()) {
      continue;
    }
    ProviderEntry e;
    e.name = p.name();
    e.type = p.type();
    e.adapter = providers::FindProvider(p.type());
    if (e.adapter == nullptr) {
      return absl::InvalidArgumentError(
          common::StrCat("provider ", p.name(), ": unknown type \"", p.type(), "\""));
    }
    const std::string base_url =
        p.base_url().empty() ? std::string(e.adapter->DefaultBaseUrl()) : p.base_url();
    auto url = ParseUpstreamUrl(base_url);
    if (!url.ok()) {
      return absl::InvalidArgumentError(common::StrCat("provider ", p.name(), ": ",
                                                     url.status().message()));
    }
    e.url = *std::move(url);
    e.ca_file = p.ca_file();
    if (!e.ca_file.empty()) {
      common::StrAppend(&e.url.pool_key, "|", e.ca_file);
    }
    if (e.url.tls) {
      auto& tls = tls_by_ca[e.ca_file];
      if (!tls) {
        auto created = upstream::CreateTlsContext(e.ca_file);
        if (!created.ok()) {
          return absl::InvalidArgumentError(common::StrCat("provider ", p.name(), ": ",
                                                         created.status().message()));
        }
        tls = *std::move(created);
      }
      e.tls = tls;
    }
    e.models.assign(p.models().begin(), p.models().end());
    e.region = p.type() == "vertex" ? p.gcp_region() : p.aws_region();
    e.project = p.gcp_project_id();
    {
      providers::BetaPolicy policy;
      policy.allow.assign(p.betas().allow().begin(), p.betas().allow().end());
      policy.deny.assign(p.betas().deny().begin(), p.betas().deny().end());
      for (const auto& r : p.betas().rename()) {
        policy.rename.emplace_back(r.from(), r.to());
      }
      e.betas = providers::BetaFilter::ForProvider(e.type, std::move(policy));
    }
    e.check_reason = p.health().reason();
    for (const auto& m : p.model_mapping()) {
      e.model_mapping.push_back(ModelRule{ModelPattern(m.from()), m.to()});
    }
    uint32_t weight_sum = 0;
    for (const auto& k : p.keys()) {
      const bool signs = k.has_aws() && !k.aws().access_key_id().empty();
      if (!k.enabled() || (k.secret().empty() && !signs)) {
        continue;
      }
      KeyEntry key;
      key.secret = common::Secret(signs ? k.aws().access_key_id() : k.secret());
      key.id = k.id().empty() ? common::StrCat(p.name(), "/", key.secret.Fingerprint()) : k.id();
      if (signs) {
        auto aws = std::make_shared<AwsKey>();
        aws->access_key_id = common::Secret(k.aws().access_key_id());
        aws->secret_access_key = common::Secret(k.aws().secret_access_key());
        aws->session_token = common::Secret(k.aws().session_token());
        aws->signing = providers::AwsSigningKey{aws->access_key_id.Reveal(),
                                                aws->secret_access_key.Reveal(),
                                                aws->session_token.Reveal()};
        key.aws = std::move(aws);
      }
      key.expires_unix_ms = k.expires_unix_ms() != 0 ? k.expires_unix_ms()
                                                     : (signs ? k.aws().expires_unix_ms() : 0);
      if (key.expires_unix_ms != 0) {
        key.usable_until = UsableUntil(key.expires_unix_ms, wall);
      }
      key.rpm_limit = k.rpm_limit();
      key.tpm_limit = k.tpm_limit();
      key.itpm_limit = k.itpm_limit();
      key.otpm_limit = k.otpm_limit();
      key.weight = std::max<uint32_t>(1, k.weight());
      key.oauth_token = k.oauth_token() && !signs;
      key.check = ToCheckState(k.health().state());
      key.state = states.Key(key.id);
      // Disabled here after a 401/403, found good by the control plane's check since: back.
      if (key.check == CheckState::kHealthy &&
          key.state->EnableIfDisabledBefore(k.health().since_unix_ms())) {
        CCR_LOG(kInfo, "key_enabled", common::Q("provider", p.name()),
                common::Q("key", key.secret.Fingerprint()),
                common::Q("reason", common::StrCat("health check: ", k.health().reason())));
      }
      // The snapshot's limits are what this data plane enforces (its share of the key).
      key.state->SetLimits(
          state::KeyLimits{key.rpm_limit, key.tpm_limit, key.itpm_limit, key.otpm_limit},
          std::chrono::steady_clock::now());
      weight_sum += key.weight;
      for (uint32_t w = 0; w < key.weight && w < 100; ++w) {
        e.key_wheel.push_back(static_cast<uint32_t>(e.keys.size()));
      }
      e.keys.push_back(std::move(key));
    }
    // Interleave the wheel so that weighted keys alternate instead of running in blocks.
    if (e.keys.size() > 1) {
      std::vector<uint32_t> interleaved;
      std::vector<uint32_t> left(e.keys.size());
      for (size_t i = 0; i < e.keys.size(); ++i) {
        left[i] = std::min<uint32_t>(e.keys[i].weight, 100);
      }
      while (interleaved.size() < e.key_wheel.size()) {
        for (size_t i = 0; i < left.size(); ++i) {
          if (left[i] > 0) {
            interleaved.push_back(static_cast<uint32_t>(i));
            --left[i];
          }
        }
      }
      e.key_wheel = std::move(interleaved);
    }
    e.weight = p.weight() != 0 ? p.weight() : std::max<uint32_t>(1, weight_sum);
    std::vector<PriceRule> prices;
    for (const auto& m : p.pricing()) {
      prices.push_back(PriceRule{ModelPattern(m.model()),
                                 ModelPrice{m.input_per_mtok(), m.output_per_mtok(),
                                            m.cache_read_per_mtok(), m.cache_write_per_mtok()}});
    }
    e.pricing = PriceTable(std::move(prices), UsesBuiltinClaudePrices(e.type),
                           UsesBuiltinGlmPrices(e.type));
    e.check = ToCheckState(p.health().state());
    CompileFit(p, &e.fit);
    e.state = states.Provider(e.name);
    index_by_name[e.name] = static_cast<uint32_t>(table->providers.size());
    table->providers.push_back(std::move(e));
  }
  if (table->providers.empty()) {
    return absl::InvalidArgumentError("no enabled provider");
  }

  const auto& r = snapshot.routing();
  table->strategy = CreateStrategy(r.strategy().empty() ? "shuffle" : r.strategy());
  if (!table->strategy) {
    return absl::InvalidArgumentError(
        common::StrCat("routing.strategy: unknown strategy \"", r.strategy(), "\""));
  }
  if (absl::Status s = CompileRules(r, index_by_name, &table->rules, &table->background_models);
      !s.ok()) {
    return s;
  }
  table->max_attempts = r.max_attempts() == 0 ? 3 : std::min<uint32_t>(r.max_attempts(), 10);
  table->latency = CompileLatencyOptions(r.latency_based());
  table->session_affinity = !r.has_session_affinity() || r.session_affinity();
  table->session_affinity_ttl = Ms(r.session_affinity_ttl_ms(), std::chrono::milliseconds(3600000));
  table->affinity = states.affinity();
  table->output_tokens = states.output_tokens();
  CompileCostBased(r.cost_based(), &table->cost_based);
  CompileUsers(snapshot.users(), states, index_by_name, table.get());
  const auto& cb = snapshot.health().circuit_breaker();
  state::BreakerConfig breaker;
  if (cb.failure_threshold() != 0) {
    breaker.failure_threshold = cb.failure_threshold();
  }
  if (cb.failure_ratio() > 0) {
    breaker.failure_ratio = std::min(1.0, cb.failure_ratio());
  }
  if (cb.min_requests() != 0) {
    breaker.min_requests = cb.min_requests();
  }
  breaker.window = Ms(cb.window_ms(), breaker.window);
  breaker.open = Ms(cb.open_ms(), breaker.open);
  if (cb.half_open_probes() != 0) {
    breaker.half_open_probes = cb.half_open_probes();
  }
  table->provider_breaker = breaker;
  table->key_breaker = breaker;
  table->default_cooldown = Ms(snapshot.health().cooldown_ms(), table->default_cooldown);
  for (uint32_t i = 0; i < table->providers.size(); ++i) {
    const ProviderEntry& e = table->providers[i];
    if (e.passthrough()) {
      table->targets[e.name] = TargetIndex{i, -1};
    }
    for (size_t k = 0; k < e.keys.size(); ++k) {
      table->targets[e.keys[k].id] = TargetIndex{i, static_cast<int>(k)};
    }
  }
  if (table->strategy->Name() == "failover") {
    auto add = [&](const std::string& name) {
      if (auto it = index_by_name.find(name); it != index_by_name.end()) {
        if (std::find(table->failover_chain.begin(), table->failover_chain.end(), it->second) ==
            table->failover_chain.end()) {
          table->failover_chain.push_back(it->second);
        }
      }
    };
    add(r.failover_primary());
    for (const auto& f : r.failover_fallbacks()) {
      add(f);
    }
    if (table->failover_chain.empty()) {
      return absl::InvalidArgumentError(
          "routing.failover: neither the primary nor a fallback is an enabled provider");
    }
  }

  // /v1/models entries: every listed model of every enabled provider, and the deployments
  // (model_mapping targets) of a type that has no Models API (Azure); first provider wins.
  absl::flat_hash_map<std::string, bool> seen;
  for (const ProviderEntry& e : table->providers) {
    std::vector<std::string_view> listed(e.models.begin(), e.models.end());
    if (e.adapter->ListsDeployments()) {
      for (const ModelRule& rule : e.model_mapping) {
        listed.push_back(rule.to);
      }
    }
    for (const std::string_view m : listed) {
      if (!seen.emplace(m, true).second) {
        continue;
      }
      const std::string id = http::JsonQuote(m);
      table->model_entries.emplace_back(
          std::string(m),
          common::StrCat("{\"type\":\"model\",\"id\":", id, ",\"display_name\":", id,
                         ",\"created_at\":\"", kModelCreatedAt, "\",\"object\":\"model\",",
                         "\"created\":", kModelCreated, ",\"owned_by\":",
                         http::JsonQuote(e.adapter->OwnedBy()), ",\"provider\":",
                         http::JsonQuote(e.name), "}"));
    }
  }
  return RoutingTableConstSharedPtr(std::move(table));
}

}  // namespace ccrelay::routing
