#include "controlplane/health/health_checker.h"

#include <deque>
#include <optional>
#include <set>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "dataplane/common/log.h"
#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"
#include "dataplane/providers/provider.h"

namespace ccrelay::controlplane {

namespace asio = boost::asio;
using ccrelay::v1::CheckedHealth;
using common::F;
using common::Q;
using common::StrCat;

namespace {

using TargetKey = std::pair<std::string, std::string>;  // (provider, key fingerprint or "")

CheckedHealth MakeHealth(CheckedHealth::State state, std::string reason, int64_t since) {
  CheckedHealth h;
  h.set_state(state);
  h.set_reason(std::move(reason));
  h.set_since_unix_ms(since);
  return h;
}

}  // namespace

std::string_view CheckedStateName(CheckedHealth::State s) {
  switch (s) {
    case CheckedHealth::HEALTHY:
      return "healthy";
    case CheckedHealth::UNHEALTHY:
      return "unhealthy";
    case CheckedHealth::AUTH_FAILED:
      return "auth_failed";
    default:
      return "unknown";
  }
}

ProbeVerdict ClassifyProbe(const ProbeResult& r, bool with_key) {
  using Kind = ProbeVerdict::Kind;
  if (r.status == 0) {
    return {Kind::kFailure, r.error};
  }
  std::string reason = r.error_type.empty() ? StrCat("HTTP ", r.status)
                                            : StrCat("HTTP ", r.status, " ", r.error_type);
  if (r.status >= 500) {
    return {Kind::kFailure, std::move(reason)};
  }
  if ((r.status == 401 || r.status == 403) && with_key) {
    return {Kind::kAuthFailed, std::move(reason)};
  }
  return {Kind::kOk, std::move(reason)};
}

bool TargetHealth::Record(const ProbeVerdict& verdict, const ccrelay::v1::HealthChecks& config,
                          int64_t now_unix_ms) {
  using Kind = ProbeVerdict::Kind;
  const CheckedHealth::State before = published.state();
  std::optional<CheckedHealth::State> next;
  switch (verdict.kind) {
    case Kind::kOk:
      failures = 0;
      ++successes;
      if (before == CheckedHealth::UNKNOWN ||
          (before != CheckedHealth::HEALTHY &&
           successes >= std::max<uint32_t>(1, config.healthy_threshold()))) {
        next = CheckedHealth::HEALTHY;
      }
      break;
    case Kind::kFailure:
      successes = 0;
      ++failures;
      if (before != CheckedHealth::UNHEALTHY &&
          failures >= std::max<uint32_t>(1, config.unhealthy_threshold())) {
        next = CheckedHealth::UNHEALTHY;
      }
      break;
    case Kind::kAuthFailed:
      successes = 0;
      failures = 0;
      next = CheckedHealth::AUTH_FAILED;
      break;
  }
  if (!next.has_value() || *next == before) {
    return false;
  }
  published = MakeHealth(*next, verdict.reason, now_unix_ms);
  return true;
}

// A model the provider serves, for checks that name one (Bedrock's CountTokens): the first listed
// model, else the first model_mapping target without a wildcard ("" = the type's default).
std::string HealthCheckModel(const ccrelay::v1::Provider& p) {
  for (const ccrelay::v1::ModelMapping& m : p.model_mapping()) {
    if (!m.to().empty() && m.to().find('*') == std::string::npos) {
      return m.to();
    }
  }
  return p.models().empty() ? std::string() : p.models(0);
}

// ---- HealthChecker ---------------------------------------------------------------------------

struct HealthChecker::Impl {
  struct Target {
    ProbeRequest request;
    bool with_key = false;  // the probe carries a key the upstream verifies
    absl::Status tls_error;  // the provider's ca_file could not be loaded
  };

  explicit Impl(Deps d) : deps(std::move(d)) {
    if (!deps.probe) {
      deps.probe = &StartProbe;
    }
  }

  template <typename Fn>
  void Post(Fn&& fn) {
    asio::post(ioc, std::forward<Fn>(fn));
  }

  // ioc thread.
  // Runs the round if it is due by the clock, else waits for it (the round timer's handler).
  void RunDue();
  void Round(bool only_new);
  void Pump();
  void OnResult(const TargetKey& key, bool with_key, const ProbeResult& result);
  // The next round is due one interval from now.
  void ScheduleRound();
  void WaitForRound();
  std::map<TargetKey, Target> BuildTargets(const ccrelay::v1::RoutingSnapshot& snapshot,
                                           std::map<std::string, bool>* per_key);
  void UpdateProvider(const std::string& provider, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void MaybePublish();

  Deps deps;
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  asio::steady_timer round_timer{ioc};
  std::thread thread;

  // ioc thread only.
  std::map<std::string, upstream::TlsContextSharedPtr> tls_by_ca;
  std::map<TargetKey, Target> known;  // the targets of the snapshot in force
  std::deque<TargetKey> queue;
  std::set<TargetKey> pending;  // queued or in flight
  std::map<TargetKey, common::MonoTime> last_probe;
  // When the next round is due (clock time): the first at once, none while checks are off.
  common::MonoTime next_round = common::MonoTime::min();
  size_t in_flight = 0;
  uint32_t interval_ms = 0;  // of the last round
  ccrelay::v1::HealthChecks config;
  bool dirty = false;
  bool stopping = false;
  // Changes to log once published: (target, new state).
  std::vector<std::pair<TargetKey, CheckedHealth>> to_log;

  mutable absl::Mutex mu;
  std::map<TargetKey, TargetHealth> states ABSL_GUARDED_BY(mu);
  std::map<std::string, bool> per_key ABSL_GUARDED_BY(mu);  // provider -> keys checked one by one
  std::map<std::string, CheckedHealth> providers ABSL_GUARDED_BY(mu);
  Counts counts ABSL_GUARDED_BY(mu);
};

std::map<TargetKey, HealthChecker::Impl::Target> HealthChecker::Impl::BuildTargets(
    const ccrelay::v1::RoutingSnapshot& snapshot, std::map<std::string, bool>* per_key_out) {
  std::map<TargetKey, Target> out;
  const auto timeout = std::chrono::milliseconds(std::max<uint32_t>(1, config.timeout_ms()));
  for (const ccrelay::v1::Provider& p : snapshot.providers()) {
    const providers::Provider* adapter = providers::FindProvider(p.type());
    if (!p.enabled() || adapter == nullptr) {
      continue;
    }
    auto url = upstream::ParseUpstreamUrl(p.base_url().empty() ? adapter->DefaultBaseUrl()
                                                              : p.base_url());
    if (!url.ok()) {
      continue;  // the data plane rejects such a snapshot anyway
    }
    Target base;
    base.request.url = *url;
    base.request.adapter = adapter;
    base.request.timeout = timeout;
    base.request.region = p.type() == "vertex" ? p.gcp_region() : p.aws_region();
    base.request.project = p.gcp_project_id();
    base.request.model = HealthCheckModel(p);
    if (url->tls) {
      auto it = tls_by_ca.find(p.ca_file());
      if (it == tls_by_ca.end()) {
        auto ctx = upstream::CreateTlsContext(p.ca_file());
        if (ctx.ok()) {
          it = tls_by_ca.emplace(p.ca_file(), *ctx).first;
        } else {
          base.tls_error = ctx.status();
        }
      }
      if (it != tls_by_ca.end()) {
        base.request.tls = it->second;
      }
    }
    // Keys the relay may send requests of its own with (not subscription OAuth tokens).
    std::vector<const ccrelay::v1::Key*> keys;
    for (const ccrelay::v1::Key& k : p.keys()) {
      if (k.enabled() && (k.has_aws() || adapter->MayProbeWithKey(k.secret()))) {
        keys.push_back(&k);
      }
    }
    auto with_key = [](const ccrelay::v1::Key& k, ProbeRequest* r) {
      if (k.has_aws()) {
        r->aws = ProbeRequest::Aws{k.aws().access_key_id(), k.aws().secret_access_key(),
                                   k.aws().session_token()};
      } else {
        r->key = k.secret();
        r->oauth_token = k.oauth_token();
      }
    };
    const bool one_by_one = adapter->HealthCheckVerifiesKeys() && !keys.empty();
    (*per_key_out)[p.name()] = one_by_one;
    if (!one_by_one) {
      if (keys.empty() && !adapter->UsableWithoutKeys()) {
        continue;  // nothing to check with (Bedrock waiting for its credentials)
      }
      Target t = base;
      // A provider that does not verify keys may still sit behind a proxy that does: send one.
      // Without keys: no credentials (a passthrough provider's 401 still proves it is there),
      // except a type that sends a placeholder of its own (Ollama's "ollama").
      if (!keys.empty()) {
        with_key(*keys.front(), &t.request);
      }
      out.emplace(TargetKey{p.name(), ""}, std::move(t));
      continue;
    }
    for (const ccrelay::v1::Key* k : keys) {
      Target t = base;
      t.with_key = true;
      with_key(*k, &t.request);
      out.emplace(TargetKey{p.name(), k->fingerprint()}, std::move(t));
    }
  }
  return out;
}

void HealthChecker::Impl::RunDue() {
  if (stopping) {
    return;
  }
  if (deps.clock->Now() >= next_round) {
    Round(false);
  } else {
    WaitForRound();
  }
}

void HealthChecker::Impl::Round(bool only_new) {
  if (stopping) {
    return;
  }
  if (!only_new) {
    next_round = common::MonoTime::max();  // until this round schedules the next
  }
  const SnapshotConstSharedPtr snapshot = deps.current ? deps.current() : nullptr;
  if (snapshot == nullptr) {
    return;
  }
  config = snapshot->health().checks();
  const bool interval_changed = config.interval_ms() != interval_ms;
  interval_ms = config.interval_ms();
  if (interval_ms == 0) {
    next_round = common::MonoTime::max();
    round_timer.cancel();
    known.clear();
    for (const TargetKey& key : queue) {
      pending.erase(key);  // probes in flight leave `pending` when they end
    }
    queue.clear();
    absl::MutexLock lock(&mu);
    if (!states.empty() || !providers.empty()) {
      states.clear();
      providers.clear();
      dirty = true;
    }
  } else {
    std::map<std::string, bool> per_key_now;
    std::map<TargetKey, Target> previous = std::move(known);
    known = BuildTargets(*snapshot, &per_key_now);
    for (auto it = last_probe.begin(); it != last_probe.end();) {
      it = known.count(it->first) == 0 ? last_probe.erase(it) : std::next(it);
    }
    absl::MutexLock lock(&mu);
    per_key = std::move(per_key_now);
    for (auto it = states.begin(); it != states.end();) {
      auto now_it = known.find(it->first);
      bool keep = now_it != known.end();
      if (keep) {
        // A target that moved (another base URL or path) starts over: its verdict was about the
        // old endpoint.
        auto before = previous.find(it->first);
        keep = before == previous.end() ||
               (before->second.request.url.pool_key == now_it->second.request.url.pool_key &&
                before->second.request.url.path_prefix == now_it->second.request.url.path_prefix &&
                before->second.request.model == now_it->second.request.model);
      }
      if (keep) {
        ++it;
      } else {
        dirty = dirty || it->second.published.state() != CheckedHealth::UNKNOWN;
        it = states.erase(it);
      }
    }
    for (auto it = providers.begin(); it != providers.end();) {
      if (per_key.count(it->first) == 0) {
        dirty = true;
        it = providers.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (interval_ms != 0) {
    for (const auto& [key, target] : known) {
      bool checked = false;
      {
        absl::MutexLock lock(&mu);
        checked = states.count(key) != 0;
      }
      if ((only_new && !interval_changed && checked) || pending.count(key) != 0) {
        continue;
      }
      pending.insert(key);
      queue.push_back(key);
    }
    if (!only_new || interval_changed) {
      ScheduleRound();
    }
  }
  Pump();
  MaybePublish();
}

void HealthChecker::Impl::ScheduleRound() {
  next_round = deps.clock->Now() + std::chrono::milliseconds(interval_ms);
  WaitForRound();
}

void HealthChecker::Impl::WaitForRound() {
  if (next_round == common::MonoTime::max()) {
    return;
  }
  // The timer only wakes the thread up: RunDue asks the clock whether the round is due (with a
  // fake clock the timer's real time says nothing).
  round_timer.expires_after(
      std::max<common::MonoTime::duration>(next_round - deps.clock->Now(), {}));
  round_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      RunDue();
    }
  });
}

void HealthChecker::Impl::Pump() {
  while (!stopping && in_flight < kMaxInFlight && !queue.empty()) {
    const TargetKey key = queue.front();
    queue.pop_front();
    auto it = known.find(key);
    if (it == known.end()) {
      pending.erase(key);
      continue;
    }
    ++in_flight;
    last_probe[key] = deps.clock->Now();
    // Results always arrive through the queue (a scripted probe may answer at once, from
    // another thread).
    auto done = [this, key, with_key = it->second.with_key](ProbeResult r) {
      Post([this, key, with_key, r = std::move(r)] { OnResult(key, with_key, r); });
    };
    if (!it->second.tls_error.ok()) {
      ProbeResult r;
      r.error = StrCat("tls: ", it->second.tls_error.message());
      done(std::move(r));
      continue;
    }
    deps.probe(ioc, it->second.request, std::move(done));
  }
}

void HealthChecker::Impl::OnResult(const TargetKey& key, bool with_key, const ProbeResult& result) {
  --in_flight;
  pending.erase(key);
  if (stopping) {
    return;
  }
  if (known.count(key) != 0) {
    const ProbeVerdict verdict = ClassifyProbe(result, with_key);
    const int64_t now = deps.clock->UnixMillis();
    std::optional<CheckedHealth> changed;
    {
      absl::MutexLock lock(&mu);
      switch (verdict.kind) {
        case ProbeVerdict::Kind::kOk:
          ++counts.ok;
          break;
        case ProbeVerdict::Kind::kFailure:
          ++counts.failure;
          break;
        case ProbeVerdict::Kind::kAuthFailed:
          ++counts.auth_failed;
          break;
      }
      TargetHealth& state = states[key];
      const CheckedHealth::State before = state.published.state();
      if (state.Record(verdict, config, now)) {
        dirty = true;
        changed = state.published;
        UpdateProvider(key.first, now);
        if (before == CheckedHealth::UNKNOWN && changed->state() == CheckedHealth::HEALTHY) {
          changed.reset();  // the normal start: not worth a line at info
        }
      }
    }
    if (changed.has_value()) {
      to_log.emplace_back(key, *std::move(changed));
    }
  }
  Pump();
  MaybePublish();
}

void HealthChecker::Impl::UpdateProvider(const std::string& provider, int64_t now) {
  auto pk = per_key.find(provider);
  CheckedHealth next;
  if (pk != per_key.end() && !pk->second) {
    auto it = states.find({provider, ""});
    if (it != states.end()) {
      next = it->second.published;
    }
  } else {
    size_t unhealthy = 0;
    size_t total = 0;
    bool answered = false;
    std::string reason;
    for (auto it = states.lower_bound({provider, ""});
         it != states.end() && it->first.first == provider; ++it) {
      ++total;
      const auto s = it->second.published.state();
      if (s == CheckedHealth::HEALTHY || s == CheckedHealth::AUTH_FAILED) {
        answered = true;
      } else if (s == CheckedHealth::UNHEALTHY) {
        ++unhealthy;
        reason = it->second.published.reason();
      }
    }
    size_t targets = 0;
    for (const auto& [key, t] : known) {
      targets += key.first == provider ? 1 : 0;
    }
    if (answered) {
      next = MakeHealth(CheckedHealth::HEALTHY, "a key answered", now);
    } else if (unhealthy > 0 && unhealthy == targets && total == targets) {
      next = MakeHealth(CheckedHealth::UNHEALTHY, reason, now);
    }
  }
  CheckedHealth& cur = providers[provider];
  if (cur.state() != next.state()) {
    cur = next;
    dirty = true;
  }
}

void HealthChecker::Impl::MaybePublish() {
  // One republish per burst of results: when nothing is in flight any more.
  if (!dirty || in_flight != 0 || stopping) {
    return;
  }
  dirty = false;
  const uint64_t version = deps.on_change ? deps.on_change() : 0;
  for (const auto& [key, h] : to_log) {
    const bool bad = h.state() != CheckedHealth::HEALTHY;
    common::LogLine(bad ? common::LogLevel::kWarn : common::LogLevel::kInfo, "health_check",
                    {Q("provider", key.first), Q("key", key.second.empty() ? "-" : key.second),
                     Q("state", CheckedStateName(h.state())), Q("reason", h.reason()),
                     F("version", version)});
  }
  to_log.clear();
}

HealthChecker::HealthChecker(Deps deps) : impl_(std::make_unique<Impl>(std::move(deps))) {}

HealthChecker::~HealthChecker() { Stop(); }

void HealthChecker::Start() {
  if (impl_->thread.joinable()) {
    return;
  }
  impl_->guard.emplace(impl_->ioc.get_executor());
  impl_->Post([impl = impl_.get()] { impl->RunDue(); });
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

void HealthChecker::RunForTest() {
  CCR_CHECK(!impl_->thread.joinable());
  impl_->Post([impl = impl_.get()] { impl->RunDue(); });
  impl_->ioc.restart();
  impl_->ioc.poll();
}

bool HealthChecker::RunUntilForTest(const std::function<bool()>& until,
                                    std::chrono::milliseconds timeout) {
  RunForTest();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!until()) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      return false;
    }
    impl_->ioc.restart();
    if (impl_->ioc.run_one_for(left) == 0 && impl_->ioc.stopped()) {
      return until();  // nothing left that could change it
    }
  }
  return true;
}

void HealthChecker::Stop() {
  if (!impl_->thread.joinable()) {
    return;
  }
  impl_->Post([impl = impl_.get()] {
    impl->stopping = true;
    impl->round_timer.cancel();
    impl->queue.clear();
  });
  impl_->guard.reset();
  // Probes in flight end at their timeout at the latest; do not wait for them.
  impl_->ioc.stop();
  impl_->thread.join();
}

void HealthChecker::OnConfigChanged() {
  impl_->Post([impl = impl_.get()] { impl->Round(true); });
}

void HealthChecker::CheckSoon(const std::string& provider, const std::string& fingerprint) {
  impl_->Post([impl = impl_.get(), provider, fingerprint] {
    if (impl->stopping || impl->interval_ms == 0) {
      return;
    }
    // The key itself; else the provider's own target (checked as a whole); for a report about
    // a provider whose keys are checked one by one, each of them.
    std::vector<TargetKey> targets;
    if (impl->known.count({provider, fingerprint}) != 0) {
      targets.emplace_back(provider, fingerprint);
    } else if (impl->known.count({provider, ""}) != 0) {
      targets.emplace_back(provider, "");
    } else if (fingerprint.empty()) {
      for (auto it = impl->known.lower_bound({provider, ""});
           it != impl->known.end() && it->first.first == provider; ++it) {
        targets.push_back(it->first);
      }
    }
    const common::MonoTime now = impl->deps.clock->Now();
    for (const TargetKey& key : targets) {
      if (impl->pending.count(key) != 0) {
        continue;
      }
      auto last = impl->last_probe.find(key);
      if (last != impl->last_probe.end() && now - last->second < kMinEarlyGap) {
        continue;
      }
      impl->pending.insert(key);
      impl->queue.push_back(key);
    }
    impl->Pump();
  });
}

void HealthChecker::Overlay(ccrelay::v1::RoutingSnapshot* snapshot) const {
  absl::MutexLock lock(&impl_->mu);
  if (impl_->states.empty()) {
    return;
  }
  for (ccrelay::v1::Provider& p : *snapshot->mutable_providers()) {
    if (auto it = impl_->providers.find(p.name());
        it != impl_->providers.end() && it->second.state() != CheckedHealth::UNKNOWN) {
      *p.mutable_health() = it->second;
    }
    for (ccrelay::v1::Key& k : *p.mutable_keys()) {
      if (auto it = impl_->states.find({p.name(), k.fingerprint()});
          it != impl_->states.end() && it->second.published.state() != CheckedHealth::UNKNOWN) {
        *k.mutable_health() = it->second.published;
      }
    }
  }
}

CheckedHealth HealthChecker::Get(const std::string& provider,
                                 const std::string& fingerprint) const {
  absl::MutexLock lock(&impl_->mu);
  auto it = impl_->states.find({provider, fingerprint});
  return it == impl_->states.end() ? CheckedHealth() : it->second.published;
}

CheckedHealth HealthChecker::GetProvider(const std::string& provider) const {
  absl::MutexLock lock(&impl_->mu);
  auto it = impl_->providers.find(provider);
  return it == impl_->providers.end() ? CheckedHealth() : it->second;
}

HealthChecker::Counts HealthChecker::counts() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->counts;
}

std::map<std::pair<std::string, std::string>, CheckedHealth> HealthChecker::All() const {
  absl::MutexLock lock(&impl_->mu);
  std::map<std::pair<std::string, std::string>, CheckedHealth> out;
  for (const auto& [key, state] : impl_->states) {
    out.emplace(key, state.published);
  }
  return out;
}

}  // namespace ccrelay::controlplane
