#include "dataplane/routing/candidate_picker.h"

#include <algorithm>
#include <random>

#include "dataplane/common/str.h"
#include "dataplane/routing/routing_table.h"

namespace ccrelay::routing {

namespace {

using Admission = state::CircuitBreaker::Admission;
using Verdict = state::KeyCheck::Verdict;

// Backoff before going back to a provider that answered 529.
constexpr int kOverloadBackoffMinMs = 50;
constexpr int kOverloadBackoffMaxMs = 250;

std::chrono::milliseconds OverloadBackoff() {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> ms(kOverloadBackoffMinMs, kOverloadBackoffMaxMs);
  return std::chrono::milliseconds(ms(rng));
}

using KeyOrder = absl::InlinedVector<int, 8>;

// Keys of `prov` in preference order: `prefer_key`, then along the weighted wheel from `cursor`.
void OrderKeys(const ProviderEntry& prov, int prefer_key, uint64_t cursor, KeyOrder* order) {
  const size_t nkeys = prov.keys.size();
  absl::InlinedVector<bool, 16> seen(nkeys, false);
  if (prefer_key >= 0 && static_cast<size_t>(prefer_key) < nkeys) {
    order->push_back(prefer_key);
    seen[static_cast<size_t>(prefer_key)] = true;
  }
  const size_t wheel = prov.key_wheel.size();
  for (size_t i = 0; i < wheel && order->size() < nkeys; ++i) {
    const uint32_t k = prov.key_wheel[(cursor + i) % wheel];
    if (!seen[k]) {
      seen[k] = true;
      order->push_back(static_cast<int>(k));
    }
  }
}

void Release(state::CircuitBreaker& breaker, Admission admission) {
  if (admission == Admission::kProbe) {
    breaker.ReleaseProbe();
  }
}

// The session's affinity target (provider, key) when it can be the first attempt at `now`,
// before breakers and headroom (the callers check those their own way).
bool FindAffinityTarget(const RoutingTable& table, std::span<const uint32_t> ranked,
                        size_t affinity_limit, std::string_view session, common::MonoTime now,
                        uint32_t* provider, int* key) {
  if (!table.session_affinity || !table.affinity || session.empty()) {
    return false;
  }
  std::string target;
  if (!table.affinity->Find(session, table.session_affinity_ttl, now, &target)) {
    return false;
  }
  auto it = table.targets.find(target);
  if (it == table.targets.end()) {
    return false;  // no longer in the table
  }
  auto pos = std::find(ranked.begin(), ranked.end(), it->second.provider);
  if (pos == ranked.end()) {
    return false;  // not a candidate for this request's model
  }
  if (static_cast<size_t>(pos - ranked.begin()) >= affinity_limit) {
    return false;  // a fallback of the scenario rule: the rule's own providers come first
  }
  const uint32_t p = it->second.provider;
  const int k = it->second.key;
  const ProviderEntry& prov = table.providers[p];
  if (prov.check_failed() || (k >= 0 && prov.keys[static_cast<size_t>(k)].check_failed())) {
    return false;  // the control plane's health check says otherwise
  }
  if (k >= 0 && prov.keys[static_cast<size_t>(k)].expired(now)) {
    return false;  // its credential expired: the normal order finds another key
  }
  *provider = p;
  *key = k;
  return true;
}

}  // namespace

CandidatePicker::CandidatePicker(const RoutingTable& table, std::span<const uint32_t> ranked,
                                 state::RequestCost cost, std::string session_id,
                                 const common::Clock& clock)
    : table_(table),
      ranked_(ranked.begin(), ranked.end()),
      visited_(ranked_.size(), false),
      cost_(cost),
      session_(std::move(session_id)),
      clock_(clock) {}

bool CandidatePicker::Tried(uint32_t provider, int key) const {
  return std::find(tried_.begin(), tried_.end(), std::make_pair(provider, key)) != tried_.end();
}

int CandidatePicker::RankPos(uint32_t provider) const {
  auto it = std::find(ranked_.begin(), ranked_.end(), provider);
  return it == ranked_.end() ? -1 : static_cast<int>(it - ranked_.begin());
}

void CandidatePicker::NoteLimited(const state::KeyCheck& check) {
  if (check.verdict != Verdict::kLimited) {
    return;
  }
  if (!saw_limited_ || check.available_at < retry_at_) {
    retry_at_ = check.available_at;
  }
  saw_limited_ = true;
}

uint32_t CandidatePicker::KeysWithHeadroom(uint32_t provider, common::MonoTime now) {
  uint32_t n = 0;
  for (const KeyEntry& key : table_.providers[provider].keys) {
    n += key.state->Check(cost_, now).has_headroom() ? 1 : 0;
  }
  return n;
}

bool CandidatePicker::Next(After after, Candidate* out) {
  const common::MonoTime now = clock_.Now();
  bool ok = false;
  if (!started_) {
    started_ = true;
    ok = First(now, out);
  } else {
    if (after == After::kOverloaded) {
      overloaded_.emplace_back(current_provider_, now);
    }
    if (after == After::kKeyProblem) {
      ok = TryProvider(current_provider_, true, -1, now, out);
    }
    for (size_t i = 0; !ok && i < ranked_.size(); ++i) {
      if (!visited_[i]) {
        visited_[i] = true;
        ok = TryProvider(ranked_[i], true, -1, now, out);
      }
    }
    while (!ok && revisit_ < overloaded_.size()) {
      const auto [provider, at] = overloaded_[revisit_++];
      // The key used last on that provider first: a 529 says nothing against the key, and it
      // keeps the prompt cache.
      int prefer = -1;
      for (const auto& [p, k] : tried_) {
        if (p == provider) {
          prefer = k;
        }
      }
      if (TryProvider(provider, false, prefer, now, out)) {
        out->not_before = at + OverloadBackoff();
        ok = true;
      }
    }
  }
  if (!ok) {
    return false;
  }
  tried_.emplace_back(out->provider, out->key);
  current_provider_ = out->provider;
  charged_input_ = cost_.metered && out->key >= 0 ? cost_.input_tokens : 0;
  charged_output_ = 0;
  return true;
}

bool CandidatePicker::First(common::MonoTime now, Candidate* out) {
  if (TryAffinity(now, out)) {
    return true;
  }
  for (size_t i = 0; i < ranked_.size(); ++i) {
    visited_[i] = true;
    if (TryProvider(ranked_[i], false, -1, now, out)) {
      return true;
    }
  }
  if (TryForced(now, out)) {
    return true;
  }
  why_ = saw_limited_    ? NoCandidate::kRateLimited
         : saw_disabled_ ? NoCandidate::kDisabled
         : saw_expired_  ? NoCandidate::kExpired
                         : NoCandidate::kNone;
  return false;
}

bool CandidatePicker::TryAffinity(common::MonoTime now, Candidate* out) {
  uint32_t p = 0;
  int k = -1;
  if (!FindAffinityTarget(table_, ranked_, affinity_limit_, session_, now, &p, &k)) {
    return false;
  }
  const ProviderEntry& prov = table_.providers[p];
  // Healthy means closed breakers: a half-open one is probed by the normal order instead.
  const Admission padm = prov.state->breaker.TryAcquire(table_.provider_breaker, now);
  if (padm != Admission::kAllowed) {
    Release(prov.state->breaker, padm);
    return false;
  }
  *out = Candidate{};
  out->provider = p;
  out->key = k;
  out->from_affinity = true;
  if (k >= 0) {
    const KeyEntry& key = prov.keys[static_cast<size_t>(k)];
    const Admission kadm = key.state->breaker().TryAcquire(table_.key_breaker, now);
    if (kadm != Admission::kAllowed) {
      Release(key.state->breaker(), kadm);
      return false;
    }
    const uint32_t available = KeysWithHeadroom(p, now);
    const state::KeyCheck got = key.state->TryAcquire(cost_, now);
    if (!got.has_headroom()) {
      return false;
    }
    out->keys_available = available;
    out->keys_total = static_cast<uint32_t>(prov.keys.size());
  }
  visited_[static_cast<size_t>(RankPos(p))] = true;
  return true;
}

bool CandidatePicker::TryProvider(uint32_t p, bool skip_tried, int prefer_key, common::MonoTime now,
                                  Candidate* out) {
  const ProviderEntry& prov = table_.providers[p];
  state::CircuitBreaker& pbreaker = prov.state->breaker;
  const Admission padm = pbreaker.TryAcquire(table_.provider_breaker, now);
  const bool pblocked = padm == Admission::kDenied;
  if (prov.passthrough()) {
    if (skip_tried && Tried(p, -1)) {
      Release(pbreaker, padm);
      return false;
    }
    if (pblocked || prov.check_failed()) {
      // Last resort. A failed health check ranks before an open breaker (epoch: first).
      Release(pbreaker, padm);
      forced_.push_back(
          Forced{p, -1, pblocked, false, pblocked ? pbreaker.opened_at() : common::MonoTime{}});
      return false;
    }
    *out = Candidate{};
    out->provider = p;
    out->key = -1;
    out->provider_admission = padm;
    return true;
  }

  const size_t nkeys = prov.keys.size();
  KeyOrder order;
  OrderKeys(prov, prefer_key, prov.state->key_cursor.fetch_add(1, std::memory_order_relaxed),
            &order);

  uint32_t available = 0;
  absl::InlinedVector<int, 8> ok_keys;
  absl::InlinedVector<int, 8> low_keys;
  const common::MonoTime popened = pblocked ? pbreaker.opened_at() : common::MonoTime{};
  for (int k : order) {
    const KeyEntry& key = prov.keys[static_cast<size_t>(k)];
    if (key.expired(now)) {
      saw_expired_ = true;
      continue;
    }
    const state::KeyCheck check = key.state->Check(cost_, now);
    if (check.verdict == Verdict::kDisabled) {
      saw_disabled_ = true;
      continue;
    }
    if (check.verdict == Verdict::kLimited) {
      NoteLimited(check);
      continue;
    }
    ++available;
    if (skip_tried && Tried(p, k)) {
      continue;
    }
    const bool kblocked = !key.state->breaker().WouldAdmit(table_.key_breaker, now);
    if (pblocked || kblocked || prov.check_failed() || key.check_failed()) {
      const common::MonoTime kopened =
          kblocked ? key.state->breaker().opened_at() : common::MonoTime{};
      forced_.push_back(Forced{p, k, pblocked, kblocked, std::max(popened, kopened)});
      continue;
    }
    (check.verdict == Verdict::kOk ? ok_keys : low_keys).push_back(k);
  }
  ok_keys.insert(ok_keys.end(), low_keys.begin(), low_keys.end());
  for (int k : ok_keys) {
    const KeyEntry& key = prov.keys[static_cast<size_t>(k)];
    const Admission kadm = key.state->breaker().TryAcquire(table_.key_breaker, now);
    if (kadm == Admission::kDenied) {
      continue;  // another request took the last probe slot meanwhile
    }
    const state::KeyCheck got = key.state->TryAcquire(cost_, now);
    if (!got.has_headroom()) {
      Release(key.state->breaker(), kadm);
      NoteLimited(got);
      continue;
    }
    *out = Candidate{};
    out->provider = p;
    out->key = k;
    out->provider_admission = padm;
    out->key_admission = kadm;
    out->keys_available = available;
    out->keys_total = static_cast<uint32_t>(nkeys);
    return true;
  }
  Release(pbreaker, padm);
  return false;
}

bool CandidatePicker::TryForced(common::MonoTime now, Candidate* out) {
  std::stable_sort(forced_.begin(), forced_.end(),
                   [](const Forced& a, const Forced& b) { return a.opened_at < b.opened_at; });
  for (const Forced& f : forced_) {
    const ProviderEntry& prov = table_.providers[f.provider];
    Admission padm = Admission::kForced;
    if (!f.provider_blocked) {
      padm = prov.state->breaker.TryAcquire(table_.provider_breaker, now);
      if (padm == Admission::kDenied) {
        padm = Admission::kForced;
      }
    }
    Admission kadm = Admission::kAllowed;
    if (f.key >= 0) {
      const KeyEntry& key = prov.keys[static_cast<size_t>(f.key)];
      kadm = Admission::kForced;
      if (!f.key_blocked) {
        kadm = key.state->breaker().TryAcquire(table_.key_breaker, now);
        if (kadm == Admission::kDenied) {
          kadm = Admission::kForced;
        }
      }
      const state::KeyCheck got = key.state->TryAcquire(cost_, now);
      if (!got.has_headroom()) {
        Release(prov.state->breaker, padm);
        Release(key.state->breaker(), kadm);
        NoteLimited(got);
        continue;
      }
    }
    *out = Candidate{};
    out->provider = f.provider;
    out->key = f.key;
    out->provider_admission = padm;
    out->key_admission = kadm;
    if (f.key >= 0) {
      out->keys_available = KeysWithHeadroom(f.provider, now);
      out->keys_total = static_cast<uint32_t>(prov.keys.size());
    }
    return true;
  }
  return false;
}

void CandidatePicker::RecordBreakers(const Candidate& c, bool provider_ok, bool key_ok,
                                     bool count_provider, bool count_key,
                                     ResponseEffects* effects) {
  const common::MonoTime now = clock_.Now();
  const ProviderEntry& prov = table_.providers[c.provider];
  if (count_provider) {
    effects->provider_transition =
        prov.state->breaker.Record(table_.provider_breaker, provider_ok, c.provider_admission, now);
  } else {
    Release(prov.state->breaker, c.provider_admission);
  }
  if (c.key < 0) {
    return;
  }
  state::CircuitBreaker& kbreaker = prov.keys[static_cast<size_t>(c.key)].state->breaker();
  if (count_key) {
    effects->key_transition = kbreaker.Record(table_.key_breaker, key_ok, c.key_admission, now);
  } else {
    Release(kbreaker, c.key_admission);
  }
}

ResponseEffects CandidatePicker::OnResponse(const Candidate& c, int status,
                                            const state::UpstreamLimits& limits) {
  return OnResponse(c, status, providers::ClassifyAnthropicStatus(status, c.key >= 0).answer,
                    limits);
}

ResponseEffects CandidatePicker::OnResponse(const Candidate& c, int status,
                                            providers::AnswerClass answer,
                                            const state::UpstreamLimits& limits) {
  using providers::AnswerClass;
  ResponseEffects effects;
  const common::MonoTime now = clock_.Now();
  const ProviderEntry& prov = table_.providers[c.provider];
  const bool success = answer == AnswerClass::kSuccess;
  if (c.key >= 0) {
    state::KeyState& key = *prov.keys[static_cast<size_t>(c.key)].state;
    if (answer == AnswerClass::kRateLimited) {
      effects.key_cooled = true;
      effects.cooled_until = key.OnRateLimited(limits, clock_, table_.default_cooldown);
    } else {
      key.Learn(limits, clock_, table_.default_cooldown);
    }
    if (answer == AnswerClass::kKeyRejected) {
      effects.key_disabled = key.Disable(
          status == 401   ? std::string("upstream answered 401 (authentication_error)")
          : status == 403 ? std::string("upstream answered 403 (permission_error)")
                          : common::StrCat("upstream answered ", status, " (key rejected)"),
          clock_.UnixMillis());
    }
    if (!success) {
      // The upstream did not take the request: its input tokens go back.
      key.AdjustInput(-charged_input_, now);
      charged_input_ = 0;
    }
  }
  // Server errors (529 included) count against both breakers; a rate limit counts for neither
  // (rate limits are per key and have their cooldown), a rejected key not for the key (it is
  // disabled instead); any other answer shows both are working.
  const bool failed = answer == AnswerClass::kServerError || answer == AnswerClass::kOverloaded;
  const bool key_neutral = answer == AnswerClass::kRateLimited ||
                           answer == AnswerClass::kKeyRejected || status == 401 || status == 403;
  RecordBreakers(c, !failed, !failed, answer != AnswerClass::kRateLimited, !key_neutral, &effects);
  if (success && table_.session_affinity && table_.affinity && !session_.empty()) {
    table_.affinity->Set(session_,
                         c.key >= 0 ? prov.keys[static_cast<size_t>(c.key)].id : prov.name, now);
  }
  return effects;
}

ResponseEffects CandidatePicker::OnTransportFailure(const Candidate& c) {
  ResponseEffects effects;
  if (c.key >= 0) {
    table_.providers[c.provider].keys[static_cast<size_t>(c.key)].state->AdjustInput(
        -charged_input_, clock_.Now());
    charged_input_ = 0;
  }
  RecordBreakers(c, false, false, true, true, &effects);
  return effects;
}

ResponseEffects CandidatePicker::OnMidStreamFailure(const Candidate& c) {
  ResponseEffects effects;
  Candidate plain = c;  // the answer's head already settled any probe
  plain.provider_admission = Admission::kAllowed;
  plain.key_admission = Admission::kAllowed;
  RecordBreakers(plain, false, false, true, true, &effects);
  return effects;
}

void CandidatePicker::Abandon(const Candidate& c, bool sent) {
  const ProviderEntry& prov = table_.providers[c.provider];
  Release(prov.state->breaker, c.provider_admission);
  if (c.key >= 0) {
    state::KeyState& key = *prov.keys[static_cast<size_t>(c.key)].state;
    Release(key.breaker(), c.key_admission);
    if (!sent) {
      key.GiveBack(cost_, clock_.Now());
    }
  }
}

void CandidatePicker::SyncUsage(const Candidate& c, const http::Usage& usage) {
  if (c.key < 0 || !cost_.metered) {
    return;
  }
  state::KeyState& key = *table_.providers[c.provider].keys[static_cast<size_t>(c.key)].state;
  const common::MonoTime now = clock_.Now();
  if (usage.input_tokens >= 0) {
    // Cache reads do not count toward input-token limits; cache writes do (protocols.md 1.5).
    const int64_t real =
        usage.input_tokens + std::max<int64_t>(0, usage.cache_creation_input_tokens);
    if (real != charged_input_) {
      key.AdjustInput(real - charged_input_, now);
      charged_input_ = real;
    }
  }
  if (usage.output_tokens > charged_output_) {
    key.ChargeOutput(usage.output_tokens - charged_output_, now);
    charged_output_ = usage.output_tokens;
  }
}

std::string AffinitySession(std::string_view header_session, std::string_view body_session,
                            std::string_view rule) {
  std::string session(header_session.empty() ? body_session : header_session);
  if (!rule.empty() && !session.empty()) {
    common::StrAppend(&session, "\x1frule:", rule);
  }
  return session;
}

bool PeekAffinity(const RoutingTable& table, std::span<const uint32_t> ranked,
                  size_t affinity_limit, std::string_view session, const state::RequestCost& cost,
                  common::MonoTime now, FirstPeek* first) {
  uint32_t p = 0;
  int k = -1;
  if (!FindAffinityTarget(table, ranked, affinity_limit, session, now, &p, &k)) {
    return false;
  }
  const ProviderEntry& prov = table.providers[p];
  // Healthy means closed breakers (a half-open one is probed by the normal order instead).
  if (prov.state->breaker.state(table.provider_breaker, now) != state::CircuitBreaker::State::kClosed) {
    return false;
  }
  if (k >= 0) {
    const KeyEntry& key = prov.keys[static_cast<size_t>(k)];
    if (key.state->breaker().state(table.key_breaker, now) != state::CircuitBreaker::State::kClosed ||
        !key.state->Check(cost, now).has_headroom()) {
      return false;
    }
  }
  *first = FirstPeek{};
  first->found = true;
  first->provider = p;
  first->key = k;
  return true;
}

void PeekFirst(const RoutingTable& table, std::span<const uint32_t> ranked,
               const state::RequestCost& cost, common::MonoTime now,
               std::vector<ProviderPeek>* providers, FirstPeek* first) {
  // The same walk as First() without affinity: the first key with headroom (kOk before kLow in
  // each provider) of the first provider that has one; else the set-aside candidates, those set
  // aside only by the health check first, then the least recently opened breaker.
  struct Forced {
    uint32_t provider;
    int key;
    common::MonoTime opened_at;
  };
  std::vector<Forced> forced;
  bool saw_limited = false;
  bool saw_disabled = false;
  bool saw_expired = false;
  *first = FirstPeek{};
  providers->clear();
  for (uint32_t p : ranked) {
    const ProviderEntry& prov = table.providers[p];
    const state::CircuitBreaker& pbreaker = prov.state->breaker;
    ProviderPeek& peek = providers->emplace_back();
    peek.provider = p;
    peek.breaker_admits = pbreaker.WouldAdmit(table.provider_breaker, now);
    const common::MonoTime popened = peek.breaker_admits ? common::MonoTime{} : pbreaker.opened_at();
    if (prov.passthrough()) {
      if (!peek.breaker_admits || prov.check_failed()) {
        forced.push_back(Forced{p, -1, popened});
      } else if (!first->found) {
        first->found = true;
        first->provider = p;
      }
      continue;
    }
    KeyOrder order;
    OrderKeys(prov, -1, prov.state->key_cursor.load(std::memory_order_relaxed), &order);
    int ok_key = -1;
    int low_key = -1;
    for (int k : order) {
      const KeyEntry& key = prov.keys[static_cast<size_t>(k)];
      KeyPeek& kp = peek.keys.emplace_back();
      kp.key = k;
      kp.expired = key.expired(now);
      kp.check = key.state->Check(cost, now);
      kp.breaker_admits = key.state->breaker().WouldAdmit(table.key_breaker, now);
      if (kp.expired) {
        saw_expired = true;
        continue;
      }
      if (kp.check.verdict == Verdict::kDisabled) {
        saw_disabled = true;
        continue;
      }
      if (kp.check.verdict == Verdict::kLimited) {
        if (!saw_limited || kp.check.available_at < first->retry_at) {
          first->retry_at = kp.check.available_at;
        }
        saw_limited = true;
        continue;
      }
      if (!peek.breaker_admits || !kp.breaker_admits || prov.check_failed() ||
          key.check_failed()) {
        const common::MonoTime kopened =
            kp.breaker_admits ? common::MonoTime{} : key.state->breaker().opened_at();
        forced.push_back(Forced{p, k, std::max(popened, kopened)});
        continue;
      }
      int& slot = kp.check.verdict == Verdict::kOk ? ok_key : low_key;
      if (slot < 0) {
        slot = k;
      }
    }
    if (!first->found && (ok_key >= 0 || low_key >= 0)) {
      first->found = true;
      first->provider = p;
      first->key = ok_key >= 0 ? ok_key : low_key;
    }
  }
  if (first->found) {
    first->retry_at = {};
    return;
  }
  std::stable_sort(forced.begin(), forced.end(),
                   [](const Forced& a, const Forced& b) { return a.opened_at < b.opened_at; });
  if (!forced.empty()) {
    first->found = true;
    first->forced = true;
    first->provider = forced.front().provider;
    first->key = forced.front().key;
    first->retry_at = {};
    return;
  }
  first->why = saw_limited    ? NoCandidate::kRateLimited
               : saw_disabled ? NoCandidate::kDisabled
               : saw_expired  ? NoCandidate::kExpired
                              : NoCandidate::kNone;
}

}  // namespace ccrelay::routing
