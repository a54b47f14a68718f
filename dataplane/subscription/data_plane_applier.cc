#include "dataplane/subscription/data_plane_applier.h"

#include <algorithm>

#include "proto/snapshot.pb.h"
#include "proto/stream.pb.h"
#include "proto/team.pb.h"

#include "dataplane/common/clock.h"
#include "dataplane/common/log.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/server/data_plane.h"
#include "dataplane/state/key_state.h"

namespace ccrelay::subscription {

DataPlaneApplier::DataPlaneApplier(server::DataPlane& data_plane, bool follow_logging)
    : data_plane_(data_plane), follow_logging_(follow_logging) {}

absl::Status DataPlaneApplier::Apply(const ccrelay::v1::RoutingSnapshot& snapshot) {
  absl::MutexLock apply_lock(&apply_mu_);
  if (closed_) {
    return absl::UnavailableError("the data plane is shutting down");
  }
  absl::Status st = data_plane_.ApplySnapshot(snapshot);
  if (!st.ok()) {
    return st;
  }
  std::vector<std::string> names;
  for (const auto& p : snapshot.providers()) {
    if (p.enabled()) {
      names.push_back(p.name());
    }
  }
  {
    absl::MutexLock lock(&mu_);
    providers_ = std::move(names);
  }
  if (follow_logging_) {
    common::LogLevel level = common::LogLevel::kInfo;
    if (!snapshot.logging().level().empty() &&
        common::ParseLogLevel(snapshot.logging().level(), &level)) {
      common::SetLogLevel(level);
    }
    if (!snapshot.logging().format().empty()) {
      common::SetLogFormat(snapshot.logging().format() == "json" ? common::LogFormat::kJson
                                                                 : common::LogFormat::kText);
    }
  }
  return absl::OkStatus();
}

uint64_t DataPlaneApplier::version() const { return data_plane_.version(); }

void DataPlaneApplier::TakeStats(ccrelay::v1::StatsReport* report) {
  stats::StatsDelta d = data_plane_.stats().Take();
  report->set_requests(d.requests);
  report->set_active_streams(d.active_streams);
  report->set_open_connections(data_plane_.active_sessions());
  for (const stats::KeyDelta& k : d.keys) {
    ccrelay::v1::KeyStats* ks = report->add_keys();
    ks->set_provider(k.provider);
    ks->set_key_fingerprint(k.key_fingerprint);
    ks->set_requests(k.requests);
    ks->set_errors(k.errors);
    ks->set_rate_limited(k.rate_limited);
    ks->set_input_tokens(k.input_tokens);
    ks->set_output_tokens(k.output_tokens);
    ks->set_cache_read_tokens(k.cache_read_tokens);
    ks->set_cache_creation_tokens(k.cache_creation_tokens);
    ks->set_latency_ms_sum(k.latency_ms_sum);
    ks->set_latency_count(k.latency_count);
  }
  // Latency samples per (provider, routed model), for the control plane's shared estimates.
  if (const auto table = data_plane_.table(); table != nullptr) {
    for (const routing::ProviderEntry& p : table->providers) {
      for (const state::LatencySampleDelta& l : p.state->latency.TakeSamples()) {
        ccrelay::v1::LatencySamples* ls = report->add_latency();
        ls->set_provider(p.name);
        ls->set_model(l.model);
        ls->set_count(l.count);
        ls->set_ttft_ms_sum(l.ttft_ms_sum);
        ls->set_speed_count(l.speed_count);
        ls->set_output_tokens(l.output_tokens);
        ls->set_generation_ms(l.generation_ms);
      }
    }
  }
  // The collector keeps no finish time: the report's time stands for it (at most one interval
  // off).
  const int64_t now = common::RealClock::Get().UnixMillis();
  for (const stats::RequestRecord& r : d.recent) {
    ccrelay::v1::RecentRequest* rr = report->add_recent();
    rr->set_request_id(r.request_id);
    rr->set_provider(r.provider);
    rr->set_key_fingerprint(r.key_fingerprint);
    rr->set_model(r.model);
    rr->set_status(r.status);
    rr->set_attempts(r.attempts);
    rr->set_ttfb_ms(r.ttfb_ms);
    rr->set_duration_ms(r.duration_ms);
    rr->set_input_tokens(std::max<int64_t>(0, r.usage.input_tokens));
    rr->set_output_tokens(std::max<int64_t>(0, r.usage.output_tokens));
    rr->set_unix_ms(now);
    rr->set_user(r.user);
  }
}

bool DataPlaneApplier::TakeHealth(ccrelay::v1::HealthReport* report, bool full) {
  const auto table = data_plane_.table();
  if (table == nullptr) {
    return false;
  }
  const auto observed = stats::ObserveHealth(*table, std::chrono::steady_clock::now(),
                                             common::RealClock::Get().UnixMillis());
  return health_.Take(observed, full, report);
}

void DataPlaneApplier::ApplyEstimates(const ccrelay::v1::RoutingEstimates& estimates) {
  const auto table = data_plane_.table();
  if (table == nullptr) {
    return;
  }
  const uint64_t generation = ++estimates_generation_;
  for (const routing::ProviderEntry& p : table->providers) {
    for (const ccrelay::v1::LatencyEstimate& e : estimates.latency()) {
      if (e.provider() == p.name) {
        p.state->latency.SetShared(e.model(), e.ttft_ms(), e.output_tokens_per_s(), e.samples(),
                                   generation);
      }
    }
    p.state->latency.ClearSharedBefore(generation);
  }
}

bool DataPlaneApplier::TakeUsage(ccrelay::v1::UsageBatch* batch) {
  return data_plane_.usage().TakeBatch(batch);
}

void DataPlaneApplier::RewindUsage() { data_plane_.usage().Rewind(); }

void DataPlaneApplier::AckUsage(uint64_t committed_seq) { data_plane_.usage().Ack(committed_seq); }

void DataPlaneApplier::ApplyBudgets(const ccrelay::v1::BudgetGrants& grants) {
  std::vector<std::string> users;
  for (const ccrelay::v1::BudgetGrant& g : grants.grants()) {
    auto state = data_plane_.states().User(g.user());
    auto grant = data_plane_.usage().MakeGrant(g, *state);
    // The same warning as the grant before (grants come every second or so): logged once.
    if (const auto previous = state->grant(); previous != nullptr && !grant->warning.empty() &&
                                              previous->warning == grant->warning &&
                                              previous->warned.load(std::memory_order_relaxed)) {
      grant->warned.store(true, std::memory_order_relaxed);
    }
    state->SetGrant(std::move(grant));
    users.push_back(g.user());
  }
  // State of the world: a user no longer listed has no grant (with a budget: refused until the
  // next grant; without one: never checked).
  for (const std::string& u : granted_users_) {
    if (std::find(users.begin(), users.end(), u) == users.end()) {
      data_plane_.states().User(u)->SetGrant(nullptr);
    }
  }
  granted_users_ = std::move(users);
}

void DataPlaneApplier::Close() {
  absl::MutexLock apply_lock(&apply_mu_);
  closed_ = true;
}

std::vector<std::string> DataPlaneApplier::providers() const {
  absl::MutexLock lock(&mu_);
  return providers_;
}

}  // namespace ccrelay::subscription
