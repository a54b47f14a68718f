#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "dataplane/auth/authenticator.h"
#include "dataplane/common/clock.h"
#include "dataplane/common/secret.h"
#include "dataplane/providers/provider.h"
#include "dataplane/routing/model_catalog.h"
#include "dataplane/routing/model_pattern.h"
#include "dataplane/routing/pricing.h"
#include "dataplane/routing/strategies/latency_based.h"
#include "dataplane/routing/rules.h"
#include "dataplane/routing/strategy.h"
#include "dataplane/state/state_registry.h"
#include "dataplane/upstream/tls_context.h"
#include "dataplane/upstream/upstream_url.h"

namespace ccrelay::v1 {
class RoutingSnapshot;
}

namespace ccrelay::providers {
class Provider;
}

namespace ccrelay::routing {

// Base URLs are parsed by the upstream layer (upstream_url.h); routing keeps its old names.
using upstream::ParseUpstreamUrl;
using upstream::UpstreamUrl;

// The control plane's active health check verdict on a key or provider (snapshot
// CheckedHealth). Unhealthy and auth_failed targets are tried only when nothing else is left.
enum class CheckState : uint8_t { kUnknown, kHealthy, kUnhealthy, kAuthFailed };

// A key's SigV4 credentials (Bedrock keys with IAM credentials); `secret` then holds the access
// key id, so that its fingerprint is the one logs and metrics show.
struct AwsKey {
  common::Secret access_key_id;
  common::Secret secret_access_key;
  common::Secret session_token;
  providers::AwsSigningKey signing;  // views of the three above
};

struct KeyEntry {
  std::string id;  // "<provider>/<fingerprint>": keys the mutable state and session affinity
  common::Secret secret;
  // Set for IAM credentials (shared: the views in it point into itself and must not move).
  std::shared_ptr<const AwsKey> aws;
  uint32_t rpm_limit = 0;  // limits this data plane enforces (0 = unlimited)
  uint32_t tpm_limit = 0;
  uint32_t itpm_limit = 0;
  uint32_t otpm_limit = 0;
  uint32_t weight = 1;
  // `secret` is an OAuth access token the control plane minted (Vertex, Azure Entra ID): sent as
  // Authorization: Bearer whatever the type's own key header is.
  bool oauth_token = false;
  CheckState check = CheckState::kUnknown;
  std::shared_ptr<state::KeyState> state;
  // A credential that stops working (a minted OAuth token, temporary AWS credentials): the
  // snapshot's expiry (Unix ms; 0 = never), and the steady-clock time from which the key is no
  // longer used (kExpiryMargin before it), also when no new snapshot comes.
  int64_t expires_unix_ms = 0;
  common::MonoTime usable_until = common::MonoTime::max();

  bool check_failed() const {
    return check == CheckState::kUnhealthy || check == CheckState::kAuthFailed;
  }
  bool expired(common::MonoTime now) const { return now >= usable_until; }
};

// A key whose credential expires is set aside this long before its expiry (a quarter of what is
// left when that is less, as for credentials that live seconds): a request sent with it must
// reach the upstream before the token lapses, and clocks differ by a few seconds.
inline constexpr std::chrono::seconds kExpiryMargin{10};

struct ModelRule {
  ModelPattern from;
  std::string to;
};

struct ProviderEntry {
  std::string name;
  std::string type;
  const providers::Provider* adapter = nullptr;
  UpstreamUrl url;
  std::string ca_file;
  upstream::TlsContextSharedPtr tls;  // set iff url.tls
  std::vector<std::string> models;
  std::vector<ModelRule> model_mapping;
  std::vector<KeyEntry> keys;          // enabled keys only
  std::vector<uint32_t> key_wheel;     // key indices repeated by weight, for spreading
  uint32_t weight = 1;
  CheckState check = CheckState::kUnknown;  // the provider as a whole
  std::string check_reason;  // why, when unhealthy ("no AWS credentials: ...")
  std::shared_ptr<state::ProviderState> state;
  PriceTable pricing;  // for the cost metrics (providers[].pricing, built-in Claude prices)
  ProviderFitConfig fit;  // providers[].context_window, tier, capabilities (cost-based)
  std::string region;   // aws_region (Bedrock), gcp_region (Vertex)
  std::string project;  // gcp_project_id (Vertex)
  // anthropic-beta filter: the type's built-in table with providers[].betas over it; nullptr
  // when there is nothing to filter (anthropic, zai, ollama without a policy).
  std::shared_ptr<const providers::BetaFilter> betas;

  // No keys: the client's own credentials pass through (a type that cannot go without keys,
  // such as Bedrock waiting for its credentials, then has no candidate at all).
  bool passthrough() const { return keys.empty() && adapter->UsableWithoutKeys(); }
  bool check_failed() const { return check == CheckState::kUnhealthy; }
  // Has keys and every one of them has expired at `now` (a data plane cut off from the control
  // plane that mints them); the latest expiry in `*expired_unix_ms`.
  bool AllKeysExpired(common::MonoTime now, int64_t* expired_unix_ms) const;
  // A type that needs keys (Bedrock) and has none yet: it has no candidate at all.
  bool lacks_credentials() const { return keys.empty() && !adapter->UsableWithoutKeys(); }
  // Serves `model`: no `models` list, or the model is listed, or a mapping rule matches (or,
  // for a type whose mapping targets are deployments, names a target).
  bool Serves(std::string_view model) const;
  // The model name to send upstream (model_mapping applied; first matching rule wins).
  std::string_view MapModel(std::string_view model) const;
};

// A teammate with a relay key (snapshot Users, SPEC.md "Relay keys on the data plane"), with
// the policy compiled against this table's providers and rules.
struct CompiledUser {
  std::string name;
  std::string fingerprint;  // of the relay key: logs, usage records
  std::string key_sha256;   // 32 bytes
  bool enabled = true;
  std::vector<Glob> allowed_models;  // empty: every model
  // allowed_providers / allowed_rules: one flag per provider / rule index of the table; empty
  // vector: no restriction. `default_route_allowed`: requests no (allowed) rule matches.
  std::vector<uint8_t> provider_allowed;
  std::vector<uint8_t> rule_allowed;
  bool default_route_allowed = true;
  uint32_t rpm_limit = 0;
  uint32_t tpm_limit = 0;
  bool has_budget = false;  // any budget limit set: requests need a grant (BudgetGrants)
  std::shared_ptr<state::UserState> state;  // by name, survives reloads

  bool restricts_providers() const { return !provider_allowed.empty(); }
  bool restricts_rules() const { return !rule_allowed.empty(); }
  bool AllowsModel(std::string_view model) const;
};

// Snapshot Users compiled: relay keys by their SHA-256.
struct RelayUsers {
  absl::flat_hash_map<std::string, CompiledUser> by_key_sha256;
  std::string key_header = "x-cc-relay-key";  // lower case
  bool required = false;  // a request must present a valid relay key
  bool empty() const { return by_key_sha256.empty(); }
};

// routing.cost_based (SPEC.md, cost-based).
struct CostBasedOptions {
  int64_t threshold_tokens = 0;  // 0: none
  Tier floor_default = Tier::kUnknown;  // kUnknown: no floor
  Tier floor_thinking = Tier::kUnknown;
  Tier floor_tools = Tier::kUnknown;
};

struct Timeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds first_byte{60000};
  std::chrono::milliseconds first_byte_non_stream{600000};
  std::chrono::milliseconds idle{300000};
  std::chrono::milliseconds total{90000};
  std::chrono::milliseconds request_header{10000};
  std::chrono::milliseconds request_body{60000};
  std::chrono::milliseconds keepalive{120000};
  std::chrono::milliseconds drain{30000};
  std::chrono::milliseconds upstream_idle_pool{60000};
};

// Where a session-affinity target (a key id, or a passthrough provider's name) is in a table.
struct TargetIndex {
  uint32_t provider = 0;
  int key = -1;  // -1: passthrough
};

// The compiled, immutable routing snapshot. Workers hold it by shared_ptr<const>; a request
// copies its worker's pointer once and keeps it to the end (RCU by reference count).
struct RoutingTable {
  uint64_t version = 0;
  std::string source;
  std::string listen;
  auth::AuthSettings auth;
  RelayUsers users;
  uint64_t max_body_bytes = 32ull << 20;
  uint32_t max_header_bytes = 64 << 10;
  Timeouts timeouts;
  std::vector<ProviderEntry> providers;  // enabled providers only, config order
  StrategyPtr strategy;
  std::vector<uint32_t> failover_chain;  // provider indices, for the failover strategy
  LatencyOptions latency;                // routing.latency_based
  // Scenario rules (routing.rules), in order: Route() takes the first that matches.
  std::vector<Rule> rules;
  std::vector<Glob> background_models;  // routing.background_models ("*haiku*" when none)
  uint32_t max_attempts = 3;
  CostBasedOptions cost_based;
  // Output tokens learned per routed model (cost-based); shared by every table (survives
  // reloads). Fed by Learn().
  std::shared_ptr<state::OutputTokenEstimator> output_tokens;

  // Key pools (SPEC.md "Key pools").
  bool session_affinity = true;
  std::chrono::milliseconds session_affinity_ttl{3600000};
  // Circuit breakers (both from health.circuit_breaker; kept apart so they may diverge).
  state::BreakerConfig provider_breaker;
  state::BreakerConfig key_breaker;
  // Cooldown after a 429 that carries neither retry-after nor a usable reset header.
  std::chrono::milliseconds default_cooldown{10000};
  // Shared with every other table of the data plane (survives reloads).
  std::shared_ptr<state::SessionAffinity> affinity;
  // Affinity target id -> provider/key indices of this table.
  absl::flat_hash_map<std::string, TargetIndex> targets;

  // Indices of providers that serve `model` (and count_tokens when asked); when none serves it
  // explicitly, every provider (the upstream then decides).
  void Eligible(std::string_view model, bool count_tokens, std::vector<uint32_t>* out) const;
  // Body of GET /v1/models (Anthropic list shape plus seed-README fields), unpaginated entries.
  std::vector<std::pair<std::string, std::string>> model_entries;  // (id, JSON object)
};

using RoutingTableConstSharedPtr = std::shared_ptr<const RoutingTable>;

// The table of a data plane that has not received its first snapshot yet: defaults, no
// providers (requests get 503 until a snapshot arrives), version 0.
RoutingTableConstSharedPtr BootstrapRoutingTable();

// Compiles a snapshot. Errors (bad URL, unknown type or strategy, unreadable CA file) make the
// whole snapshot unusable: the caller NACKs it and keeps the last good table. `clock` dates
// credential expiries (KeyEntry::usable_until); RealClock when null.
absl::StatusOr<RoutingTableConstSharedPtr> CompileRoutingTable(
    const ccrelay::v1::RoutingSnapshot& snapshot, state::StateRegistry& states,
    const common::Clock* clock = nullptr);

}  // namespace ccrelay::routing
