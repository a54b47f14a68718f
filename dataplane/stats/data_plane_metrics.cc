#include "dataplane/stats/data_plane_metrics.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "dataplane/common/str.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/state/key_state.h"

namespace ccrelay::stats {

namespace {

// Seconds. Requests of an LLM relay last from well under a second (count_tokens, short
// answers) to many minutes (long generations); the first token comes within seconds.
std::vector<double> DurationBounds() {
  return {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600};
}
std::vector<double> TtftBounds() {
  return {0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 30, 60};
}

// The reason label of a failed upstream attempt.
std::string_view AttemptReason(const AttemptRecord& r) {
  if (r.reason != "status") {
    return r.reason;  // connect | timeout | reset
  }
  if (r.status == 429) {
    return "rate_limited";
  }
  if (r.status == 529) {
    return "overloaded";
  }
  if (r.status >= 500) {
    return "server_error";
  }
  return "client_error";
}

bool IsControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

}  // namespace

DataPlaneMetrics::DataPlaneMetrics(std::string_view version)
    : requests_(registry_.AddCounter(
          "ccrelay_requests_total",
          "Client requests answered, by provider (\"\" when the relay answered itself), "
          "requested model and HTTP status (499: the client went away).",
          {"provider", "model", "status"})),
      duration_(registry_.AddHistogram(
          "gen_ai_server_request_duration_seconds",
          "Time from a /v1/messages request's arrival to the end of its response, by the "
          "provider that answered and the requested model.",
          {"provider", "model"}, DurationBounds())),
      ttft_(registry_.AddHistogram(
          "gen_ai_server_time_to_first_token_seconds",
          "Time from a successful /v1/messages request's arrival to its first token: the first "
          "content event forwarded (streaming) or the response head (non-streaming).",
          {"provider", "model"}, TtftBounds())),
      tokens_(registry_.AddCounter(
          "ccrelay_tokens_total",
          "Tokens reported in responses' usage, by type: input, output, cache_read, "
          "cache_creation.",
          {"provider", "model", "type"})),
      cost_(registry_.AddCounter(
          "ccrelay_cost_usd_total",
          "Estimated cost in US dollars: response usage at the provider's price for the model "
          "sent upstream (built-in Claude list prices, providers[].pricing overrides).",
          {"provider", "model"})),
      upstream_errors_(registry_.AddCounter(
          "ccrelay_upstream_errors_total",
          "Failed upstream attempts and streams, by reason: connect, timeout, reset, "
          "rate_limited (429), overloaded (529), server_error (other 5xx), client_error, "
          "mid_stream (the upstream failed after the response started).",
          {"provider", "reason"})),
      retries_(registry_.AddCounter(
          "ccrelay_retries_total",
          "Upstream attempts beyond the first (another key or provider), by the provider that "
          "gave the final answer.",
          {"provider"})),
      failovers_(registry_.AddCounter(
          "ccrelay_failovers_total",
          "Requests that needed more than one upstream attempt, by the provider that gave the "
          "final answer.",
          {"provider"})),
      active_streams_(registry_.AddGauge("ccrelay_active_streams",
                                         "SSE responses being streamed to clients right now.")),
      snapshot_updates_(registry_.AddCounter(
          "ccrelay_snapshot_updates_total",
          "Routing snapshots received, by result: applied, or rejected (the old one stays).",
          {"result"})),
      betas_dropped_(registry_.AddCounter(
          "ccrelay_betas_dropped_total",
          "anthropic-beta values not sent upstream (the provider type's beta table or the "
          "provider's betas policy dropped them), per upstream attempt, by provider and beta "
          "(names no table or policy lists count as \"other\").",
          {"provider", "beta"})),
      routing_decisions_(registry_.AddCounter(
          "ccrelay_routing_decisions_total",
          "Requests routed, by the strategy that ranked the providers and the scenario rule "
          "that matched (\"default\": none).",
          {"strategy", "rule"})),
      build_info_(registry_.AddGauge("ccrelay_build_info",
                                     "Always 1; the version label is cc-relay's version.",
                                     {"version"})),
      user_requests_(registry_.AddCounter(
          "ccrelay_user_requests_total",
          "Requests of relay-key users (teams), by user (at most 100 names per process, then "
          "\"other\").",
          {"user"})),
      user_tokens_(registry_.AddCounter(
          "ccrelay_user_tokens_total",
          "Tokens of relay-key users' requests, by user and kind: input, output, cache_read, "
          "cache_creation.",
          {"user", "kind"})),
      user_cost_(registry_.AddCounter(
          "ccrelay_user_cost_usd_total",
          "Estimated cost in US dollars of relay-key users' requests, by user.", {"user"})),
      user_refused_(registry_.AddCounter(
          "ccrelay_user_refused_total",
          "Relay-key users' requests refused by the relay, by user and reason: budget, "
          "rate_limit (the user's rpm/tpm), model (allowed_models), policy (allowed_providers "
          "or allowed_rules leave no route), disabled (the relay key is disabled).",
          {"user", "reason"})),
      usage_dropped_(registry_.AddCounter(
          "ccrelay_usage_records_dropped_total",
          "Usage records dropped unreported: more than 100000 were waiting for the control "
          "plane's acknowledgement (the oldest go first).")) {
  build_info_.WithLabels({version}).Set(1);
  usage_dropped_.WithLabels({}).Inc(0);
  active_streams_.WithLabels({}).Set(0);
}

std::string_view DataPlaneMetrics::ModelLabel(std::string_view model, std::string* storage) {
  bool clean = model.size() <= kMaxModelLength;
  for (char c : model) {
    clean = clean && !IsControl(c);
  }
  if (!clean) {
    storage->clear();
    for (char c : model.substr(0, kMaxModelLength)) {
      storage->push_back(IsControl(c) ? '?' : c);
    }
    // Do not leave half of a UTF-8 sequence at the cut (label values must be valid UTF-8).
    if (model.size() > kMaxModelLength) {
      size_t end = storage->size();
      size_t lead = end;
      while (lead > 0 && (static_cast<unsigned char>((*storage)[lead - 1]) & 0xC0) == 0x80) {
        --lead;
      }
      if (lead > 0 && static_cast<unsigned char>((*storage)[lead - 1]) >= 0xC0) {
        const auto b = static_cast<unsigned char>((*storage)[lead - 1]);
        const size_t need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
        if (end - (lead - 1) < need) {
          storage->resize(lead - 1);
        }
      }
    }
    model = *storage;
  }
  const std::array<std::string_view, 1> key = {model};
  if (models_.FindOrCreate(key, kMaxModels) == nullptr) {
    return "other";
  }
  return model;
}

std::string_view DataPlaneMetrics::UserLabel(std::string_view user) {
  const std::array<std::string_view, 1> key = {user};
  return users_.FindOrCreate(key, kMaxUsers) == nullptr ? std::string_view("other") : user;
}

void DataPlaneMetrics::OnUserRefused(std::string_view user, std::string_view reason) {
  user_refused_.WithLabels({UserLabel(user), reason}).Inc();
}

void DataPlaneMetrics::OnUsageRecordDropped() { usage_dropped_.WithLabels({}).Inc(); }

void DataPlaneMetrics::OnRequestDone(const RequestRecord& r) {
  if (!r.user.empty()) {
    const std::string_view user = UserLabel(r.user);
    user_requests_.WithLabels({user}).Inc();
    const std::array<std::pair<std::string_view, int64_t>, 4> kinds = {{
        {"input", r.usage.input_tokens},
        {"output", r.usage.output_tokens},
        {"cache_read", r.usage.cache_read_input_tokens},
        {"cache_creation", r.usage.cache_creation_input_tokens},
    }};
    for (const auto& [kind, n] : kinds) {
      if (n > 0) {
        user_tokens_.WithLabels({user, kind}).Inc(static_cast<double>(n));
      }
    }
    if (r.cost_usd > 0) {
      user_cost_.WithLabels({user}).Inc(r.cost_usd);
    }
  }
  std::string model_storage;
  const std::string_view model = ModelLabel(r.model, &model_storage);
  const std::string_view provider = r.provider;
  std::array<char, 12> status_buf;
  const auto end =
      std::to_chars(status_buf.data(), status_buf.data() + status_buf.size(), r.status).ptr;
  const std::string_view status(status_buf.data(), static_cast<size_t>(end - status_buf.data()));

  requests_.WithLabels({provider, model, status}).Inc();
  if (provider.empty()) {
    return;  // answered by the relay itself: no upstream, no tokens
  }
  if (!r.count_tokens) {
    duration_.WithLabels({provider, model}).Observe(static_cast<double>(r.duration_ms) / 1e3);
    if (r.ttft_ms >= 0) {
      ttft_.WithLabels({provider, model}).Observe(static_cast<double>(r.ttft_ms) / 1e3);
    }
    const std::array<std::pair<std::string_view, int64_t>, 4> kinds = {{
        {"input", r.usage.input_tokens},
        {"output", r.usage.output_tokens},
        {"cache_read", r.usage.cache_read_input_tokens},
        {"cache_creation", r.usage.cache_creation_input_tokens},
    }};
    bool any_usage = false;
    for (const auto& [type, n] : kinds) {
      if (n >= 0) {
        any_usage = true;
        tokens_.WithLabels({provider, model, type}).Inc(static_cast<double>(n));
      }
    }
    if (any_usage) {
      cost_.WithLabels({provider, model}).Inc(r.cost_usd);
    }
  }
  if (r.attempts > 1) {
    retries_.WithLabels({provider}).Inc(static_cast<double>(r.attempts - 1));
    failovers_.WithLabels({provider}).Inc();
  }
  if (r.upstream_error) {
    upstream_errors_.WithLabels({provider, "mid_stream"}).Inc();
  }
}

void DataPlaneMetrics::OnAttemptFailed(const AttemptRecord& r) {
  upstream_errors_.WithLabels({r.provider, AttemptReason(r)}).Inc();
}

void DataPlaneMetrics::OnStreamStarted() { active_streams_.WithLabels({}).Add(1); }

void DataPlaneMetrics::OnStreamEnded() { active_streams_.WithLabels({}).Add(-1); }

void DataPlaneMetrics::OnBetaDropped(std::string_view provider, std::string_view beta) {
  betas_dropped_.WithLabels({provider, beta}).Inc();
}

void DataPlaneMetrics::OnRouted(std::string_view strategy, std::string_view rule) {
  // Bounded: strategy names are built in, rule names come from the config.
  routing_decisions_.WithLabels({strategy, rule.empty() ? std::string_view("default") : rule})
      .Inc();
}

void DataPlaneMetrics::OnSnapshotUpdate(bool applied) {
  snapshot_updates_.WithLabels({applied ? "applied" : "rejected"}).Inc();
}

std::vector<ProviderLatencySample> SampleLatency(const routing::RoutingTable& table,
                                                 std::chrono::steady_clock::time_point now) {
  std::vector<ProviderLatencySample> out;
  for (const routing::ProviderEntry& p : table.providers) {
    const state::LatencyEstimate e = p.state->latency.ProviderWide(now);
    if (e.ttft_ms < 0 && e.tokens_per_s < 0) {
      continue;
    }
    out.push_back(ProviderLatencySample{p.name, e.ttft_ms < 0 ? -1 : e.ttft_ms / 1000.0,
                                        e.tokens_per_s});
  }
  return out;
}

namespace {

// One gauge family of the latency estimates per provider (only those it has; none: no family).
void RenderLatencyFamily(const std::vector<ProviderLatencySample>& latency, std::string_view name,
                         std::string_view help, double ProviderLatencySample::*field,
                         PrometheusTextWriter& w) {
  if (std::none_of(latency.begin(), latency.end(),
                   [field](const ProviderLatencySample& l) { return l.*field >= 0; })) {
    return;
  }
  w.Family(name, help, MetricType::kGauge);
  for (const ProviderLatencySample& l : latency) {
    if (l.*field >= 0) {
      const std::array<Label, 1> labels = {Label("provider", l.provider)};
      w.Sample(name, labels, l.*field);
    }
  }
}

// The latency-based strategy's estimates per provider.
void RenderLatency(const std::vector<ProviderLatencySample>& latency, PrometheusTextWriter& w) {
  RenderLatencyFamily(latency, "ccrelay_provider_ttft_estimate_seconds",
                      "Estimated time to first token of each provider over its models (moving "
                      "average; this data plane's samples, else the control plane's shared "
                      "estimate).",
                      &ProviderLatencySample::ttft_seconds, w);
  RenderLatencyFamily(latency, "ccrelay_provider_output_tokens_per_second",
                      "Estimated output tokens per second of each provider's streamed answers "
                      "(moving average).",
                      &ProviderLatencySample::tokens_per_s, w);
}

}  // namespace

std::string DataPlaneMetrics::Render(const ScrapeState& state) const {
  std::string out;
  out.reserve(size_t{16} * 1024);
  registry_.Render(&out);
  PrometheusTextWriter w(&out);
  w.Family("ccrelay_open_connections", "Client connections open on this data plane.",
           MetricType::kGauge);
  w.Sample("ccrelay_open_connections", {}, static_cast<double>(state.open_connections));
  w.Family("ccrelay_snapshot_version", "Version of the routing snapshot in use.",
           MetricType::kGauge);
  w.Sample("ccrelay_snapshot_version", {}, static_cast<double>(state.snapshot_version));
  RenderLatency(state.latency, w);
  if (state.keys.empty()) {
    return out;
  }
  auto key_labels = [](const KeySample& k) {
    return std::array<Label, 2>{Label("provider", k.provider), Label("key", k.key)};
  };
  w.Family("ccrelay_key_requests_total",
           "Upstream requests sent with each pooled key (by key fingerprint), since start.",
           MetricType::kCounter);
  for (const KeySample& k : state.keys) {
    w.Sample("ccrelay_key_requests_total", key_labels(k), static_cast<double>(k.requests));
  }
  w.Family("ccrelay_key_failures_total",
           "Failed upstream attempts with each pooled key (by key fingerprint), since start.",
           MetricType::kCounter);
  for (const KeySample& k : state.keys) {
    w.Sample("ccrelay_key_failures_total", key_labels(k), static_cast<double>(k.failures));
  }
  w.Family("ccrelay_key_state",
           "State of each pooled key: 1 for its current state, 0 for the others.",
           MetricType::kGauge);
  for (const KeySample& k : state.keys) {
    bool listed = false;
    for (std::string_view s : kKeyStates) {
      listed = listed || k.state == s;
      const std::array<Label, 3> labels = {Label("provider", k.provider), Label("key", k.key),
                                           Label("state", s)};
      w.Sample("ccrelay_key_state", labels, k.state == s ? 1 : 0);
    }
    if (!listed) {  // a state added to the key pool but not (yet) to kKeyStates
      const std::array<Label, 3> labels = {Label("provider", k.provider), Label("key", k.key),
                                           Label("state", k.state)};
      w.Sample("ccrelay_key_state", labels, 1);
    }
  }
  w.Family("ccrelay_key_cooldown_seconds", "Seconds left of each pooled key's cooldown (0: none).",
           MetricType::kGauge);
  for (const KeySample& k : state.keys) {
    w.Sample("ccrelay_key_cooldown_seconds", key_labels(k), k.cooldown_seconds);
  }
  bool any_limit = false;
  bool any_remaining = false;
  for (const KeySample& k : state.keys) {
    for (const KeyLimitSample& l : k.limits) {
      any_limit = any_limit || l.configured > 0;
      any_remaining = any_remaining || l.remaining.has_value();
    }
  }
  if (any_limit) {
    w.Family("ccrelay_key_rate_limit",
             "Configured rate limit of each pooled key, by limit: rpm (requests per minute), "
             "tpm, itpm, otpm (tokens, input tokens, output tokens per minute).",
             MetricType::kGauge);
    for (const KeySample& k : state.keys) {
      for (const KeyLimitSample& l : k.limits) {
        if (l.configured > 0) {
          const std::array<Label, 3> labels = {Label("provider", k.provider), Label("key", k.key),
                                               Label("limit", l.limit)};
          w.Sample("ccrelay_key_rate_limit", labels, l.configured);
        }
      }
    }
  }
  if (any_remaining) {
    w.Family("ccrelay_key_rate_limit_remaining",
             "Rate-limit headroom: what is left of each limit in the current window.",
             MetricType::kGauge);
    for (const KeySample& k : state.keys) {
      for (const KeyLimitSample& l : k.limits) {
        if (l.remaining.has_value()) {
          const std::array<Label, 3> labels = {Label("provider", k.provider), Label("key", k.key),
                                               Label("limit", l.limit)};
          w.Sample("ccrelay_key_rate_limit_remaining", labels, *l.remaining);
        }
      }
    }
  }
  return out;
}

}  // namespace ccrelay::stats
