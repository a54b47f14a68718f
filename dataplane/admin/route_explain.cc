#include "dataplane/admin/route_explain.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>


#include "proto/admin.pb.h"

#include "dataplane/common/str.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/routing/candidate_picker.h"
#include "dataplane/routing/router.h"
#include "dataplane/routing/routing_table.h"

namespace ccrelay::admin {

namespace {

namespace v1 = ccrelay::v1;
using common::StrCat;

// The request's headers, looked up by lower-case name as the exchange's are.
class MapHeaders : public routing::HeaderLookup {
 public:
  explicit MapHeaders(const google::protobuf::Map<std::string, std::string>& headers) {
    for (const auto& [name, value] : headers) {
      std::string lower(name);
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      values_[lower] = value;
    }
  }
  std::string_view Get(std::string_view name) const override {
    auto it = values_.find(name);
    return it == values_.end() ? std::string_view() : std::string_view(it->second);
  }

 private:
  std::map<std::string, std::string, std::less<>> values_;
};

std::string CheckWord(routing::CheckState s) {
  switch (s) {
    case routing::CheckState::kHealthy:
      return "healthy";
    case routing::CheckState::kUnhealthy:
      return "unhealthy";
    case routing::CheckState::kAuthFailed:
      return "auth_failed";
    case routing::CheckState::kUnknown:
      break;
  }
  return "unknown";
}

std::string BreakerWord(const state::CircuitBreaker& breaker, const state::BreakerConfig& config,
                        common::MonoTime now) {
  switch (breaker.state(config, now)) {
    case state::CircuitBreaker::State::kOpen:
      return "open";
    case state::CircuitBreaker::State::kHalfOpen:
      return "half_open";
    case state::CircuitBreaker::State::kClosed:
      break;
  }
  return "closed";
}

std::string VerdictWord(const routing::KeyPeek& k) {
  if (k.expired) {
    return "expired";
  }
  switch (k.check.verdict) {
    case state::KeyCheck::Verdict::kLow:
      return "low";
    case state::KeyCheck::Verdict::kLimited:
      return "rate_limited";
    case state::KeyCheck::Verdict::kDisabled:
      return "auth_failed";
    case state::KeyCheck::Verdict::kOk:
      break;
  }
  return "ok";
}

void AddServerToolNames(uint32_t bits, v1::RouteFeatures* out) {
  static constexpr std::pair<uint32_t, std::string_view> kNames[] = {
      {http::kWebSearch, "web_search"},   {http::kWebFetch, "web_fetch"},
      {http::kCodeExecution, "code_execution"}, {http::kComputer, "computer"},
      {http::kBash, "bash"},               {http::kTextEditor, "text_editor"},
      {http::kMemory, "memory"},           {http::kOtherServerTool, "other"},
  };
  for (const auto& [bit, name] : kNames) {
    if ((bits & bit) != 0) {
      out->add_server_tools(std::string(name));
    }
  }
}

std::string NoCandidateReason(const routing::FirstPeek& first, common::MonoTime now,
                              std::string_view model, bool count_tokens) {
  switch (first.why) {
    case routing::NoCandidate::kRateLimited: {
      const int64_t seconds = std::max<int64_t>(
          1, std::chrono::ceil<std::chrono::seconds>(first.retry_at - now).count());
      return StrCat("every key able to serve model ", model, " is rate limited; retry after ",
                    seconds, " s (429)");
    }
    case routing::NoCandidate::kDisabled:
      return "every key was taken out after 401/403";
    case routing::NoCandidate::kExpired:
      return "every key's credential expired";
    case routing::NoCandidate::kNone:
      break;
  }
  if (count_tokens) {
    return StrCat("count_tokens is not supported by any provider serving model ", model, " (404)");
  }
  return StrCat("no provider is available for model ", model, " (503)");
}

}  // namespace

absl::Status ExplainRoute(const routing::RoutingTable& table, const v1::ExplainRouteRequest& request,
                          const common::Clock& clock, v1::RouteExplanation* out) {
  const MapHeaders headers(request.headers());
  routing::RouteRequest route;
  std::string body = request.body();
  http::RequestInfo info;
  if (!body.empty()) {
    auto scanned = http::ScanRequestBody(&body);
    if (!scanned.ok()) {
      return absl::InvalidArgumentError(StrCat("body: ", scanned.status().message()));
    }
    info = *std::move(scanned);
    route.input_tokens = routing::EstimateInputTokens(body.size());
    route.body = body;
  } else {
    if (request.model().empty()) {
      return absl::InvalidArgumentError("a body or a model is required");
    }
    info.model = request.model();
    info.max_tokens = request.max_tokens();
    info.thinking = request.thinking();
    for (const std::string& tool : request.tools()) {
      info.server_tools |= http::ServerToolBit(tool);
    }
    info.tool_count = static_cast<uint32_t>(request.tools_size());
    route.input_tokens = request.input_tokens();
    route.set_images(request.images());
  }
  route.model = info.model;
  route.count_tokens = request.count_tokens();
  route.max_tokens = info.max_tokens;
  route.thinking = info.thinking;
  route.tool_count = info.tool_count;
  route.server_tools = info.server_tools;
  route.betas = !request.betas().empty() ? std::string_view(request.betas())
                                         : headers.Get("anthropic-beta");
  route.headers = &headers;
  if (!request.user().empty()) {
    const routing::CompiledUser* user = nullptr;
    for (const auto& [sha, u] : table.users.by_key_sha256) {
      if (u.name == request.user()) {
        user = &u;
        break;
      }
    }
    if (user == nullptr) {
      return absl::NotFoundError(
          StrCat("no user named \"", request.user(), "\" in snapshot ", table.version));
    }
    if (!user->AllowsModel(info.model)) {
      return absl::FailedPreconditionError(
          StrCat("user ", user->name, " may not use model ", info.model,
                 " (allowed_models): the request would be refused with 403"));
    }
    route.client_key = user->name;
    route.user = user;
  }

  std::vector<uint32_t> ranked;
  routing::RouteDecision decision;
  routing::Explanation explanation;
  routing::Route(table, route, &ranked, &decision, &explanation);

  out->set_snapshot_version(table.version);
  v1::RouteFeatures* f = out->mutable_request();
  f->set_model(info.model);
  f->set_count_tokens(route.count_tokens);
  f->set_input_tokens(route.input_tokens);
  f->set_max_tokens(route.max_tokens);
  f->set_thinking(route.thinking);
  f->set_images(route.images());  // explain shows it whether or not routing needed it
  f->set_tool_count(route.tool_count);
  AddServerToolNames(route.server_tools, f);
  f->set_betas(std::string(route.betas));
  f->set_user(request.user());
  out->set_rule(explanation.rule);
  out->set_model(explanation.model);
  out->set_strategy(explanation.strategy);

  // The picker's view of the same ranking (the exchange's cost: count_tokens is not metered).
  state::RequestCost cost;
  cost.metered = !route.count_tokens;
  cost.input_tokens = cost.metered ? route.input_tokens : 0;
  const common::MonoTime now = clock.Now();
  std::vector<routing::ProviderPeek> peeks;
  routing::FirstPeek first;
  routing::PeekFirst(table, ranked, cost, now, &peeks, &first);
  // The session's affinity target comes before the ranked order, as in the exchange.
  const bool affinity = routing::PeekAffinity(
      table, ranked, decision.rule.empty() ? SIZE_MAX : decision.rule_providers,
      routing::AffinitySession(headers.Get(routing::kSessionHeader), info.session_id,
                               decision.rule),
      cost, now, &first);

  for (size_t i = 0; i < ranked.size(); ++i) {
    const routing::ProviderEntry& p = table.providers[ranked[i]];
    v1::RouteCandidate* c = out->add_ranked();
    c->set_name(p.name);
    c->set_type(p.type);
    const routing::RankedProvider* r =
        i < explanation.ranked.size() && explanation.ranked[i].provider == ranked[i]
            ? &explanation.ranked[i]
            : nullptr;
    c->set_model(r != nullptr ? r->model : std::string(p.MapModel(decision.model)));
    c->set_expected_cost_usd(r != nullptr ? r->expected_cost_usd : -1);
    c->set_ttft_ms(r != nullptr ? r->ttft_ms : -1);
    c->set_output_tokens_per_s(r != nullptr ? r->output_tokens_per_s : -1);
    c->set_score(r != nullptr ? r->score : -1);
    c->set_in_flight(r != nullptr ? r->in_flight : -1);
    c->set_capacity(r != nullptr ? r->capacity : -1);
    c->set_note(r != nullptr ? r->note : std::string());
    c->set_check_state(CheckWord(p.check));
    c->set_check_reason(p.check_reason);
    c->set_breaker(BreakerWord(p.state->breaker, table.provider_breaker, now));
    c->set_passthrough(p.passthrough());
    for (const routing::KeyPeek& kp : peeks[i].keys) {
      const routing::KeyEntry& key = p.keys[static_cast<size_t>(kp.key)];
      v1::RouteCandidateKey* k = c->add_keys();
      k->set_fingerprint(std::string(key.secret.Fingerprint()));
      k->set_headroom(!kp.expired && kp.check.has_headroom());
      k->set_state(VerdictWord(kp));
      if (kp.check.verdict == state::KeyCheck::Verdict::kLimited) {
        k->set_available_in_ms(std::max<int64_t>(
            0, std::chrono::ceil<std::chrono::milliseconds>(kp.check.available_at - now).count()));
      }
      k->set_disabled(key.state->disabled());
      k->set_breaker(BreakerWord(key.state->breaker(), table.key_breaker, now));
      k->set_check_state(CheckWord(key.check));
      k->set_expired(kp.expired);
      k->set_weight(key.weight);
    }
  }
  for (const routing::ExcludedProvider& x : explanation.excluded) {
    v1::RouteExclusion* e = out->add_excluded();
    e->set_name(x.provider < table.providers.size() ? table.providers[x.provider].name
                                                    : std::string());
    e->set_reason(x.reason);
  }
  // Providers the strategy left out without saying why (failover's chain names only some).
  for (uint32_t i = 0; i < table.providers.size(); ++i) {
    const auto said = [i](const routing::ExcludedProvider& x) { return x.provider == i; };
    if (std::find(ranked.begin(), ranked.end(), i) == ranked.end() &&
        std::none_of(explanation.excluded.begin(), explanation.excluded.end(), said)) {
      v1::RouteExclusion* e = out->add_excluded();
      e->set_name(table.providers[i].name);
      e->set_reason(StrCat("not ranked by strategy ", explanation.strategy));
    }
  }
  if (first.found) {
    const routing::ProviderEntry& p = table.providers[first.provider];
    out->set_first_provider(p.name);
    if (first.key >= 0) {
      out->set_first_key(std::string(p.keys[static_cast<size_t>(first.key)].secret.Fingerprint()));
    }
    out->set_first_reason(
        affinity ? "session affinity: this session's last successful key"
        : first.forced ? "every candidate with headroom is set aside (breaker open or health "
                       "check failed): this one is tried anyway"
        : first.key < 0 ? "passthrough: the client's own credentials"
                        : "first key with headroom in ranked order");
  } else {
    out->set_first_reason(NoCandidateReason(first, now, decision.model, route.count_tokens));
  }
  return absl::OkStatus();
}

}  // namespace ccrelay::admin
