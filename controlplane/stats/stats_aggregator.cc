#include "controlplane/stats/stats_aggregator.h"

#include "proto/management.pb.h"
#include "proto/stream.pb.h"

namespace ccrelay::controlplane {
namespace {

int Severity(const std::string& state) {
  if (state == "auth_failed") {
    return 3;
  }
  if (state == "failing") {
    return 2;
  }
  if (state == "cooldown") {
    return 1;
  }
  return 0;
}

void AddUsage(KeyUsage* to, const KeyUsage& from) {
  to->requests += from.requests;
  to->errors += from.errors;
  to->rate_limited += from.rate_limited;
  to->input_tokens += from.input_tokens;
  to->output_tokens += from.output_tokens;
  to->cache_read_tokens += from.cache_read_tokens;
  to->cache_creation_tokens += from.cache_creation_tokens;
  to->latency_ms_sum += from.latency_ms_sum;
  to->latency_count += from.latency_count;
  to->rpm_used += from.rpm_used;
  to->tpm_used += from.tpm_used;
}

}  // namespace

StatsAggregator::StatsAggregator(const common::Clock& clock) : clock_(clock) {}

void StatsAggregator::AddReport(const std::string& data_plane,
                                const ccrelay::v1::StatsReport& report) {
  const int64_t now_second = clock_.UnixMillis() / 1000;
  absl::MutexLock lock(&mu_);
  DataPlaneTotals& dp = data_planes_[data_plane];
  dp.requests += report.requests();
  dp.active_streams = report.active_streams();
  requests_ += report.requests();
  for (const ccrelay::v1::KeyStats& k : report.keys()) {
    KeyTotals& t = keys_[{k.provider(), k.key_fingerprint()}];
    KeyUsage& u = t.usage;
    u.requests += k.requests();
    u.errors += k.errors();
    u.rate_limited += k.rate_limited();
    u.input_tokens += k.input_tokens();
    u.output_tokens += k.output_tokens();
    u.cache_read_tokens += k.cache_read_tokens();
    u.cache_creation_tokens += k.cache_creation_tokens();
    u.latency_ms_sum += k.latency_ms_sum();
    u.latency_count += k.latency_count();
    Bucket& b = t.buckets[static_cast<size_t>(now_second % kWindowSeconds)];
    if (b.second != now_second) {
      b = Bucket{now_second, 0, 0};
    }
    b.requests += k.requests();
    b.tokens += k.input_tokens() + k.output_tokens();
    dp.errors += k.errors();
    errors_ += k.errors();
    input_tokens_ += k.input_tokens();
    output_tokens_ += k.output_tokens();
  }
  // `recent` is oldest first: pushing each to the front leaves the newest first.
  for (const ccrelay::v1::RecentRequest& r : report.recent()) {
    recent_.push_front(Recent{data_plane, r.request_id(), r.provider(), r.key_fingerprint(),
                              r.model(), r.status(), r.attempts(), r.ttfb_ms(), r.duration_ms(),
                              r.input_tokens(), r.output_tokens(), r.unix_ms(), r.user()});
  }
  while (recent_.size() > kMaxRecent) {
    recent_.pop_back();
  }
}

void StatsAggregator::AddHealth(const std::string& data_plane,
                                const ccrelay::v1::HealthReport& report) {
  absl::MutexLock lock(&mu_);
  auto& mine = health_[data_plane];
  for (const ccrelay::v1::HealthObservation& o : report.observations()) {
    KeyId id{o.provider(), o.key_fingerprint()};
    if (o.state() == "ok" || o.state().empty()) {
      mine.erase(id);
      continue;
    }
    ObservedHealth h;
    // A data plane says "disabled" for a key it took out after a 401/403.
    h.state = o.state() == "disabled" ? "auth_failed" : o.state();
    h.reason = o.reason();
    h.until_unix_ms = o.until_unix_ms();
    h.data_plane = data_plane;
    mine[id] = std::move(h);
  }
}

void StatsAggregator::ForgetDataPlane(const std::string& data_plane) {
  absl::MutexLock lock(&mu_);
  if (auto it = data_planes_.find(data_plane); it != data_planes_.end()) {
    it->second.active_streams = 0;
  }
  health_.erase(data_plane);
}

void StatsAggregator::AddRates(KeyUsage* usage, const KeyTotals& totals, int64_t now_second) const {
  for (const Bucket& b : totals.buckets) {
    if (b.second > now_second - kWindowSeconds && b.second <= now_second) {
      usage->rpm_used += static_cast<double>(b.requests);
      usage->tpm_used += static_cast<double>(b.tokens);
    }
  }
}

KeyUsage StatsAggregator::Key(const std::string& provider, const std::string& fingerprint) const {
  const int64_t now_second = clock_.UnixMillis() / 1000;
  absl::MutexLock lock(&mu_);
  auto it = keys_.find({provider, fingerprint});
  if (it == keys_.end()) {
    return KeyUsage{};
  }
  KeyUsage u = it->second.usage;
  AddRates(&u, it->second, now_second);
  return u;
}

KeyUsage StatsAggregator::Provider(const std::string& provider) const {
  const int64_t now_second = clock_.UnixMillis() / 1000;
  absl::MutexLock lock(&mu_);
  KeyUsage sum;
  for (auto it = keys_.lower_bound({provider, ""});
       it != keys_.end() && it->first.first == provider; ++it) {
    KeyUsage u = it->second.usage;
    AddRates(&u, it->second, now_second);
    AddUsage(&sum, u);
  }
  return sum;
}

std::optional<ObservedHealth> StatsAggregator::Health(const std::string& provider,
                                                      const std::string& fingerprint) const {
  const int64_t now_ms = clock_.UnixMillis();
  absl::MutexLock lock(&mu_);
  std::optional<ObservedHealth> worst;
  for (const auto& [dp, observations] : health_) {
    auto it = observations.find({provider, fingerprint});
    if (it == observations.end()) {
      continue;
    }
    const ObservedHealth& h = it->second;
    if (h.state == "cooldown" && h.until_unix_ms != 0 && h.until_unix_ms <= now_ms) {
      continue;  // over
    }
    if (!worst.has_value() || Severity(h.state) > Severity(worst->state)) {
      worst = h;
    }
  }
  return worst;
}

void StatsAggregator::FillTotals(ccrelay::v1::StatsSnapshot* out) const {
  absl::MutexLock lock(&mu_);
  out->set_requests(requests_);
  out->set_errors(errors_);
  out->set_input_tokens(input_tokens_);
  out->set_output_tokens(output_tokens_);
  int64_t active = 0;
  for (const auto& [id, dp] : data_planes_) {
    active += dp.active_streams;
    ccrelay::v1::DataPlaneStats* s = out->add_data_planes();
    s->set_data_plane(id);
    s->set_requests(dp.requests);
    s->set_errors(dp.errors);
    s->set_active_streams(dp.active_streams);
  }
  out->set_active_streams(active);
  for (const Recent& r : recent_) {
    ccrelay::v1::RequestSummary* s = out->add_recent();
    s->set_request_id(r.request_id);
    s->set_provider(r.provider);
    s->set_key_fingerprint(r.key_fingerprint);
    s->set_model(r.model);
    s->set_status(r.status);
    s->set_attempts(r.attempts);
    s->set_ttfb_ms(r.ttfb_ms);
    s->set_duration_ms(r.duration_ms);
    s->set_input_tokens(r.input_tokens);
    s->set_output_tokens(r.output_tokens);
    s->set_unix_ms(r.unix_ms);
    s->set_data_plane(r.data_plane);
    s->set_user(r.user);
  }
  out->set_unix_ms(clock_.UnixMillis());
}

}  // namespace ccrelay::controlplane
