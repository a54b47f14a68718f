#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"

#include "dataplane/common/clock.h"
#include "dataplane/http/sse_observer.h"
#include "dataplane/providers/provider.h"
#include "dataplane/state/circuit_breaker.h"
#include "dataplane/state/key_state.h"
#include "dataplane/state/upstream_limits.h"

namespace ccrelay::routing {

struct RoutingTable;

// One upstream attempt's target and what was reserved for it.
struct Candidate {
  uint32_t provider = 0;
  int key = -1;  // index into ProviderEntry::keys; -1: passthrough (the client's credentials)
  state::CircuitBreaker::Admission provider_admission = state::CircuitBreaker::Admission::kAllowed;
  state::CircuitBreaker::Admission key_admission = state::CircuitBreaker::Admission::kAllowed;
  // Keys of the provider with headroom when it was chosen, and all of its keys.
  uint32_t keys_available = 0;
  uint32_t keys_total = 0;
  // Do not send before this (jittered backoff before going back to a provider that answered
  // 529); the epoch means at once.
  common::MonoTime not_before{};
  bool from_affinity = false;
};

// Why the first pick found no candidate at all.
enum class NoCandidate {
  kNone,         // there was a candidate
  kRateLimited,  // every key is out of headroom (buckets, cooldown, upstream exhaustion)
  kDisabled,     // every key was taken out after 401/403
  kExpired,      // every key's credential expired (no new one from the control plane)
};

// One key of a provider as the first pick would see it now (PeekFirst).
struct KeyPeek {
  int key = 0;                  // index into ProviderEntry::keys
  state::KeyCheck check;        // headroom for the request's cost (nothing taken)
  bool expired = false;         // its credential expired: skipped
  bool breaker_admits = true;   // the key's breaker would let a request through
};

// One ranked provider as the first pick would see it now.
struct ProviderPeek {
  uint32_t provider = 0;
  bool breaker_admits = true;
  std::vector<KeyPeek> keys;    // in the order the picker would try them
};

// Where the first attempt would go (PeekFirst).
struct FirstPeek {
  bool found = false;
  uint32_t provider = 0;
  int key = -1;                 // -1: passthrough
  bool forced = false;          // every candidate with headroom was set aside: tried anyway
  NoCandidate why = NoCandidate::kNone;  // !found: why
  common::MonoTime retry_at{};  // why == kRateLimited: when the first key has headroom again
};

// The first pick of a CandidatePicker over `ranked` for `cost`, made without reserving
// anything, taking a probe or moving a key cursor (`cc-relayctl route explain`): the keys of
// each provider in the order they would be tried, and the candidate the first Next(kStart)
// would return at `now` if nothing changed meanwhile. Session affinity is not considered.
void PeekFirst(const RoutingTable& table, std::span<const uint32_t> ranked,
               const state::RequestCost& cost, common::MonoTime now,
               std::vector<ProviderPeek>* providers, FirstPeek* first);

// Claude Code's session header (else the session inside metadata.user_id), for affinity.
inline constexpr std::string_view kSessionHeader = "x-claude-code-session-id";

// The session-affinity key of a request: Claude Code's session header, else the session inside
// metadata.user_id ("" none); a scenario rule's requests keep an affinity of their own (Claude
// Code's background calls share the main conversation's session), suffixed with the rule.
std::string AffinitySession(std::string_view header_session, std::string_view body_session,
                            std::string_view rule);

// The session's affinity target, when the first Next(kStart) of a CandidatePicker with this
// `session` and LimitAffinity(`affinity_limit`) would take it at `now` (checked without
// reserving anything); false otherwise (no session or target, or it is not usable now).
bool PeekAffinity(const RoutingTable& table, std::span<const uint32_t> ranked,
                  size_t affinity_limit, std::string_view session, const state::RequestCost& cost,
                  common::MonoTime now, FirstPeek* first);

// What an upstream answer did to the key pool, for logging.
struct ResponseEffects {
  bool key_disabled = false;        // this answer disabled the key (first time only)
  bool key_cooled = false;          // a 429 cooled the key...
  common::MonoTime cooled_until{};  // ...until then
  state::CircuitBreaker::Transition provider_transition = state::CircuitBreaker::Transition::kNone;
  state::CircuitBreaker::Transition key_transition = state::CircuitBreaker::Transition::kNone;
};

// Chooses the (provider, key) of each attempt of one request, and feeds what the upstream says
// back into the key pool state. Owned by one exchange (one thread); the state it touches is
// shared and synchronised per key / per provider.
//
// Order of the first attempt: the session's affinity target while it is healthy (breakers
// closed, not cooling, headroom, still in the table); otherwise the ranked providers in order,
// and in each the keys from the provider's cursor along its weighted wheel, keys the upstream
// reported as running low after the others, skipping keys without headroom, disabled keys and
// keys whose breaker is open. Providers whose breaker is open are skipped, and so are providers
// and keys the control plane's health check found unhealthy or refused (CheckState). When every
// candidate with headroom is set aside like that, one is tried anyway: those set aside only by
// the health check first, then the least recently opened breaker.
//
// Later attempts (Next with the kind of failure): after a key problem (429, 401, 403) another key
// of the same provider, then the providers not tried yet; after a provider failure (5xx,
// transport error, timeout) the providers not tried yet; after a 529 the same, and once those
// are exhausted the overloaded providers again, each after a jittered 50-250 ms backoff.
class CandidatePicker {
 public:
  enum class After { kStart, kKeyProblem, kProviderFailure, kOverloaded };

  // `ranked`: indices of eligible providers in strategy order. `cost.input_tokens`: the
  // estimate taken from each key tried (corrected later by SyncUsage).
  CandidatePicker(const RoutingTable& table, std::span<const uint32_t> ranked,
                  state::RequestCost cost, std::string session_id, const common::Clock& clock);

  // Session affinity considers only the first `n` ranked providers (a scenario rule's own, so
  // that a session that fell back to another provider returns to the rule's once it is back).
  // Before the first Next.
  void LimitAffinity(size_t n) { affinity_limit_ = n; }

  // The next candidate, its budget and breaker admission reserved; false when none is left.
  bool Next(After after, Candidate* out);
  // After the first Next returned false: why, and (kRateLimited) when the first key will have
  // headroom again.
  NoCandidate why() const { return why_; }
  common::MonoTime retry_at() const { return retry_at_; }

  // The upstream answered `status` with these rate-limit headers: learn from them; 429 cools the
  // key, 401/403 disable it, breakers count the outcome, a 2xx moves the session's affinity
  // here, and a non-2xx gives back the input-token estimate.
  ResponseEffects OnResponse(const Candidate& c, int status, const state::UpstreamLimits& limits);
  // The same with the provider adapter's classification of the answer (kRateLimited cools the
  // key, kKeyRejected disables it, kServerError and kOverloaded count against the breakers).
  ResponseEffects OnResponse(const Candidate& c, int status, providers::AnswerClass answer,
                             const state::UpstreamLimits& limits);
  // The attempt failed without an answer (connect, TLS, reset, timeout): a failure for both
  // breakers; the estimate is given back.
  ResponseEffects OnTransportFailure(const Candidate& c);
  // The upstream died after the answer had started: a failure for both breakers.
  ResponseEffects OnMidStreamFailure(const Candidate& c);
  // The attempt ended with no verdict (client gone, or picked and never sent): probes released;
  // a candidate never sent (`sent` false) also gets its reservation back.
  void Abandon(const Candidate& c, bool sent);
  // Usage reported so far (cumulative) by the answer to `c`: input tokens corrected against the
  // estimate, output tokens charged as they come.
  void SyncUsage(const Candidate& c, const http::Usage& usage);

  const state::RequestCost& cost() const { return cost_; }

 private:
  struct Forced {
    uint32_t provider = 0;
    int key = -1;
    bool provider_blocked = false;
    bool key_blocked = false;
    common::MonoTime opened_at{};
  };

  bool First(common::MonoTime now, Candidate* out);
  bool TryAffinity(common::MonoTime now, Candidate* out);
  // Reserves a key of `provider` (not one tried, when `skip_tried`; `prefer_key` first).
  bool TryProvider(uint32_t provider, bool skip_tried, int prefer_key, common::MonoTime now,
                   Candidate* out);
  bool TryForced(common::MonoTime now, Candidate* out);
  void NoteLimited(const state::KeyCheck& check);
  void Take(const Candidate& c, size_t rank_pos);
  bool Tried(uint32_t provider, int key) const;
  int RankPos(uint32_t provider) const;
  uint32_t KeysWithHeadroom(uint32_t provider, common::MonoTime now);
  void RecordBreakers(const Candidate& c, bool provider_ok, bool key_ok, bool count_provider,
                      bool count_key, ResponseEffects* effects);

  const RoutingTable& table_;
  absl::InlinedVector<uint32_t, 8> ranked_;
  absl::InlinedVector<bool, 8> visited_;  // by rank position
  state::RequestCost cost_;
  std::string session_;
  const common::Clock& clock_;
  size_t affinity_limit_ = SIZE_MAX;
  bool started_ = false;
  uint32_t current_provider_ = 0;
  absl::InlinedVector<std::pair<uint32_t, int>, 4> tried_;
  // Providers that answered 529, and when.
  absl::InlinedVector<std::pair<uint32_t, common::MonoTime>, 2> overloaded_;
  size_t revisit_ = 0;

  // First pick bookkeeping.
  absl::InlinedVector<Forced, 2> forced_;
  bool saw_limited_ = false;
  bool saw_disabled_ = false;
  bool saw_expired_ = false;
  common::MonoTime retry_at_{};
  NoCandidate why_ = NoCandidate::kNone;

  // Usage of the current answer already applied to its key.
  int64_t charged_input_ = 0;
  int64_t charged_output_ = 0;
};

}  // namespace ccrelay::routing
