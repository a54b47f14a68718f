#include "dataplane/proxy/exchange.h"

#include <algorithm>
#include <utility>

#include <boost/beast/http/field.hpp>

#include "dataplane/common/log.h"
#include "dataplane/common/recycling_allocator.h"
#include "dataplane/common/str.h"
#include "dataplane/common/timestamps.h"
#include "dataplane/http/anthropic_error.h"
#include "dataplane/http/hop_by_hop.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/http/sse_boundary.h"
#include "dataplane/routing/router.h"
#include "dataplane/team/budget_gate.h"
#include "dataplane/team/usage_journal.h"
#include "dataplane/upstream/http_upstream_request.h"

namespace ccrelay::proxy {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr size_t kMaxUsageCopyBytes = 1 << 20;
// A single SSE event larger than this is forwarded before its end is seen (memory bound).
constexpr size_t kMaxHeldEventBytes = 256 * 1024;

// The soft-budget warning of the grant a request was admitted under (SPEC.md "Budgets").
constexpr std::string_view kBudgetWarningHeader = "x-cc-relay-budget-warning";

// The capacity of the strings of the worker's head_pool (the upstream request's head, the
// answer's header lines): Claude Code's request head is 1-2 KB; one size, so any kept string fits
// either use.
constexpr size_t kHeadBytes = 2048;

int64_t NonNegative(int64_t v) { return v < 0 ? 0 : v; }

template <class Fields>
std::string_view HeaderValue(const Fields& fields, std::string_view name) {
  auto it = fields.find(boost::beast::string_view(name.data(), name.size()));
  return it == fields.end() ? std::string_view() : std::string_view(it->value());
}

}  // namespace

WorkerContext::WorkerContext(asio::io_context& io) : ioc(io), pool(io), resolver(io) {
  upstream_factory = [this](upstream::UpstreamCallbacks& callbacks) {
    return common::MakeRecycledShared<upstream::HttpUpstreamRequest>(ioc.get_executor(), resolver,
                                                                     &pool, callbacks);
  };
}

Exchange::Exchange(Params&& params)
    : p_(std::move(params)),
      table_(*p_.table),
      client_(p_.client),
      retry_(table_.max_attempts, p_.start + table_.timeouts.total),
      backoff_timer_(p_.worker->ioc) {
  times_.start = p_.start;
}

Exchange::~Exchange() {
  if (upstream_) {
    upstream_->Cancel();
  }
}

std::string_view Exchange::KeyFingerprint() const {
  return current_.key >= 0 ? provider().keys[static_cast<size_t>(current_.key)].secret.Fingerprint()
                           : std::string_view();
}

// Request headers for scenario rules' header matches.
class Exchange::RuleHeaders : public routing::HeaderLookup {
 public:
  explicit RuleHeaders(const ClientRequest& request) : request_(request) {}
  std::string_view Get(std::string_view name) const override {
    return HeaderValue(request_, name);
  }

 private:
  const ClientRequest& request_;
};

void Exchange::Start() {
  if (!table_.users.empty()) {
    // The relay key's own header never goes upstream (x-cc-relay-* are dropped by the adapters
    // anyway; Users.key_header may be any name). A relay key in x-api-key or Authorization is
    // replaced by the provider's key (the auth method says so).
    p_.request.erase(boost::beast::string_view(table_.users.key_header.data(),
                                               table_.users.key_header.size()));
  }
  const std::string_view body = p_.request.body().view();
  const RuleHeaders headers(p_.request);
  routing::RouteRequest route;
  route.model = p_.info.model;
  route.count_tokens = p_.count_tokens;
  route.input_tokens = routing::EstimateInputTokens(body.size());
  if (p_.user != nullptr) {
    if (!AdmitUser(route.input_tokens)) {
      return;
    }
    route.user = p_.user;
    route.client_key = p_.user->name;
  }
  route.max_tokens = p_.info.max_tokens;
  route.thinking = p_.info.thinking;
  route.body = body;  // searched for an image only if a rule or the strategy asks
  route.tool_count = p_.info.tool_count;
  route.server_tools = p_.info.server_tools;
  route.betas = HeaderValue(p_.request, "anthropic-beta");
  route.headers = &headers;
  routing::Route(table_, route, &ranked_, &route_, nullptr);
  if (auto* obs = p_.worker->observer) {
    obs->OnRouted(route_.strategy, route_.rule);
  }
  if (route_.user_refused) {
    RefuseUser("policy", 403, "permission_error",
               common::StrCat("no scenario rule that user ", p_.user->name,
                              " may use matches this request, and the default route is not "
                              "among the user's allowed_rules"));
    return;
  }
  if (ranked_.empty() && p_.user != nullptr && p_.user->restricts_providers()) {
    RefuseUser("policy", 403, "permission_error",
               common::StrCat("no provider that user ", p_.user->name, " may use serves model ",
                              p_.info.model));
    return;
  }
  if (ranked_.empty()) {
    if (p_.count_tokens) {
      WriteRelayError(404, "not_found_error",
                      common::StrCat("count_tokens is not supported by any provider serving model ",
                                     p_.info.model));
    } else {
      WriteRelayError(503, "api_error",
                      common::StrCat("no provider is available for model ", p_.info.model,
                                     route_.rule.empty() ? "" : " (scenario rule ", route_.rule,
                                     route_.rule.empty() ? "" : ")"));
    }
    return;
  }
  // Key pools: the request's estimated input tokens are reserved on the key tried and corrected
  // with the usage the answer reports (count_tokens requests are not metered).
  state::RequestCost cost;
  cost.metered = !p_.count_tokens;
  cost.input_tokens = cost.metered ? route.input_tokens : 0;
  picker_.emplace(table_, ranked_, cost,
                  routing::AffinitySession(HeaderValue(p_.request, routing::kSessionHeader),
                                           p_.info.session_id, route_.rule),
                  common::RealClock::Get());
  if (!route_.rule.empty()) {
    picker_->LimitAffinity(route_.rule_providers);
  }
  upstream_ = p_.worker->upstream_factory(*this);
  NextAttempt(After::kStart);
}

bool Exchange::AdmitUser(int64_t input_tokens) {
  const routing::CompiledUser& u = *p_.user;
  if (!u.AllowsModel(p_.info.model)) {
    RefuseUser("model", 403, "permission_error",
               common::StrCat("model ", p_.info.model, " is not allowed for user ", u.name));
    return false;
  }
  if (u.has_budget) {
    team::BudgetVerdict v = team::CheckBudget(*u.state);
    switch (v.kind) {
      case team::BudgetVerdict::Kind::kExhausted:
        RefuseUser("budget", team::kBudgetExhaustedStatus,
                   http::ErrorTypeForStatus(team::kBudgetExhaustedStatus),
                   team::BudgetExhaustedMessage(*v.grant, u.name), team::kNoRetryHeader);
        return false;
      case team::BudgetVerdict::Kind::kNoGrant:
        RefuseUser("budget", 429, "rate_limit_error",
                   common::StrCat("no budget grant for user ", u.name,
                                  " from the control plane yet; retry"),
                   "retry-after: 1\r\n");
        return false;
      case team::BudgetVerdict::Kind::kShareUsedUp:
        RefuseUser("budget", 429, "rate_limit_error",
                   "budget share of this relay in use; retry", "retry-after: 1\r\n");
        return false;
      case team::BudgetVerdict::Kind::kAdmit:
        break;
    }
    grant_ = std::move(v.grant);
    if (!grant_->warning.empty() && !grant_->warned.exchange(true, std::memory_order_relaxed)) {
      CCR_LOG(kWarn, "budget_warning", common::F("request_id", p_.request_id),
              common::F("user", u.name), common::Q("warning", grant_->warning));
    }
  }
  if (p_.count_tokens || (u.rpm_limit == 0 && u.tpm_limit == 0)) {
    return true;
  }
  const common::MonoTime now = std::chrono::steady_clock::now();
  common::MonoTime retry_at = now;
  const char* which = "rpm";
  if (!u.state->TryAcquire(input_tokens, now, &retry_at, &which)) {
    const int64_t seconds =
        std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(retry_at - now).count());
    const uint32_t limit = std::string_view(which) == "rpm" ? u.rpm_limit : u.tpm_limit;
    RefuseUser("rate_limit", 429, "rate_limit_error",
               common::StrCat("user ", u.name, " is over its ", which, " limit of ", limit,
                              "; retry after ", seconds, " s"),
               common::StrCat("retry-after: ", seconds, "\r\n"));
    return false;
  }
  user_metered_ = true;
  user_tokens_taken_ = NonNegative(input_tokens);
  return true;
}

void Exchange::RefuseUser(std::string_view reason, int status, std::string_view type,
                          std::string_view message, std::string_view extra_headers) {
  CCR_LOG(kInfo, "user_refused", common::F("request_id", p_.request_id),
          common::F("user", p_.user->name), common::F("user_key", p_.user->fingerprint),
          common::F("reason", reason), common::F("status", status), common::Q("detail", message));
  if (auto* obs = p_.worker->observer) {
    obs->OnUserRefused(p_.user->name, reason);
  }
  WriteRelayError(status, type, message, extra_headers);
}

void Exchange::AccountUser(const http::Usage& usage, double cost_usd, int status,
                           int64_t duration_ms) {
  if (user_metered_) {
    // tpm: the estimate taken at admission, corrected with what the answer reported.
    if (usage.input_tokens >= 0 || usage.output_tokens >= 0) {
      const int64_t actual = NonNegative(usage.input_tokens) + NonNegative(usage.output_tokens);
      p_.user->state->AdjustTokens(actual - user_tokens_taken_, std::chrono::steady_clock::now());
    }
    user_metered_ = false;
  }
  team::UsageJournal* journal = p_.worker->usage;
  if (journal == nullptr) {
    return;
  }
  team::UsageEntry e;
  if (p_.user != nullptr) {
    e.user = p_.user->name;
    e.user_key_fingerprint = p_.user->fingerprint;
  } else {
    e.user = team::kAnonymousUser;
  }
  if (retry_.attempts() > 0) {
    const auto& prov = provider();
    e.provider = prov.name;
    e.key_fingerprint = KeyFingerprint();
    e.model = prov.MapModel(route_.model);
  } else {
    e.model = p_.info.model;
  }
  e.status = status;
  e.unix_ms = common::RealClock::Get().UnixMillis();
  e.input_tokens = static_cast<uint64_t>(NonNegative(usage.input_tokens));
  e.output_tokens = static_cast<uint64_t>(NonNegative(usage.output_tokens));
  e.cache_read_tokens = static_cast<uint64_t>(NonNegative(usage.cache_read_input_tokens));
  e.cache_creation_tokens = static_cast<uint64_t>(NonNegative(usage.cache_creation_input_tokens));
  e.cost_usd = cost_usd;
  e.duration_ms = duration_ms;
  journal->Add(e, p_.user != nullptr ? p_.user->state.get() : nullptr);
}

void Exchange::RecordRefusedUsage(team::UsageJournal* journal, const routing::CompiledUser* user,
                                  int status, int64_t duration_ms) {
  if (journal == nullptr) {
    return;
  }
  team::UsageEntry e;
  e.user = user != nullptr ? std::string_view(user->name) : team::kAnonymousUser;
  if (user != nullptr) {
    e.user_key_fingerprint = user->fingerprint;
  }
  e.status = status;
  e.unix_ms = common::RealClock::Get().UnixMillis();
  e.duration_ms = duration_ms;
  journal->Add(e, user != nullptr ? user->state.get() : nullptr);
}

void Exchange::OnClientGone() {
  if (finished_) {
    return;
  }
  cancelled_ = true;
  client_ = nullptr;
  CCR_LOG(kDebug, "client_gone", common::F("request_id", p_.request_id));
  Finish(false);
}

void Exchange::NextAttempt(After after) {
  if (finished_) {
    return;
  }
  // The previous attempt is over: a backoff before the next one counts on no provider.
  in_flight_.Release();
  Candidate next;
  if (have_next_) {
    next = next_;
    have_next_ = false;
  } else if (retry_.attempts() > 0 && !retry_.CanRetry(std::chrono::steady_clock::now())) {
    FinishWithFailure();
    return;
  } else if (!picker_->Next(after, &next)) {
    if (retry_.attempts() == 0) {
      AnswerNoCandidate();
    } else {
      FinishWithFailure();
    }
    return;
  }
  current_ = next;
  attempt_state_ = AttemptState::kPicked;
  if (current_.not_before > std::chrono::steady_clock::now()) {
    // Going back to a provider that answered 529: a short jittered backoff first.
    backoff_timer_.expires_at(current_.not_before);
    backoff_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->finished_) {
        return;
      }
      self->StartAttempt();
    });
    return;
  }
  StartAttempt();
}

void Exchange::AnswerNoCandidate() {
  if (picker_->why() == routing::NoCandidate::kRateLimited) {
    const auto wait = picker_->retry_at() - std::chrono::steady_clock::now();
    const int64_t seconds =
        std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
    WriteRelayError(429, "rate_limit_error",
                    common::StrCat("every key able to serve model ", p_.info.model,
                                   " is rate limited; retry after ", seconds, " s"),
                    common::StrCat("retry-after: ", seconds, "\r\n"));
    return;
  }
  if (picker_->why() == routing::NoCandidate::kDisabled) {
    WriteRelayError(503, "api_error",
                    common::StrCat("every key able to serve model ", p_.info.model,
                                   " is disabled (the upstream rejected it)"));
    return;
  }
  // A provider that cannot go without credentials and has none says why (the control plane's
  // reason, e.g. the AWS credential chain's last error); one whose minted credentials expired
  // (no new ones from the control plane) says since when.
  const common::MonoTime now = std::chrono::steady_clock::now();
  for (const uint32_t i : ranked_) {
    const routing::ProviderEntry& prov = table_.providers[i];
    if (int64_t expired_ms = 0; prov.AllKeysExpired(now, &expired_ms)) {
      WriteRelayError(
          503, "api_error",
          common::StrCat("no provider is available for model ", p_.info.model, ": provider ",
                         prov.name, "'s credentials expire at ", common::FormatRfc3339(expired_ms),
                         " and no new ones came from the control plane (cut off from it, or its "
                         "refresh failing: see cc-relayctl providers get ",
                         prov.name, ")"));
      return;
    }
    if (prov.lacks_credentials()) {
      WriteRelayError(503, "api_error",
                      common::StrCat("no provider is available for model ", p_.info.model,
                                     ": provider ", prov.name, " has no credentials (",
                                     prov.check_reason.empty() ? "none configured"
                                                               : prov.check_reason,
                                     ")"));
      return;
    }
  }
  WriteRelayError(503, "api_error",
                  common::StrCat("no provider is available for model ", p_.info.model));
}

void Exchange::LogEffects(const routing::ResponseEffects& effects, int status) {
  const auto& prov = provider();
  const std::string_view key = current_.key >= 0 ? KeyFingerprint() : std::string_view("-");
  if (effects.key_disabled) {
    CCR_LOG(kWarn, "key_disabled", common::F("request_id", p_.request_id),
            common::F("provider", prov.name), common::F("key", key), common::F("status", status),
            common::Q("reason", status == 401 ? "upstream answered 401 authentication_error"
                                              : "upstream answered 403 permission_error"));
  }
  if (effects.key_cooled) {
    const int64_t ms = std::chrono::ceil<std::chrono::milliseconds>(
                           effects.cooled_until - std::chrono::steady_clock::now())
                           .count();
    CCR_LOG(kInfo, "key_cooldown", common::F("request_id", p_.request_id),
            common::F("provider", prov.name), common::F("key", key),
            common::F("cooldown_ms", std::max<int64_t>(0, ms)));
  }
  using Transition = state::CircuitBreaker::Transition;
  auto log_transition = [&](Transition t, std::string_view scope) {
    if (t == Transition::kNone) {
      return;
    }
    const char* event = t == Transition::kClosed
                            ? "circuit_closed"
                            : (t == Transition::kOpened ? "circuit_opened" : "circuit_reopened");
    const std::string_view scoped_key = scope == "key" ? key : std::string_view("-");
    if (t == Transition::kClosed) {
      CCR_LOG(kInfo, event, common::F("scope", scope), common::F("provider", prov.name),
              common::F("key", scoped_key));
    } else if (t == Transition::kReopened) {
      // A failed probe, or a request forced through an open breaker when nothing else is left
      // (then on every request): the opening was the warning.
      CCR_LOG(kDebug, event, common::F("scope", scope), common::F("provider", prov.name),
              common::F("key", scoped_key), common::F("status", status));
    } else {
      CCR_LOG(kWarn, event, common::F("scope", scope), common::F("provider", prov.name),
              common::F("key", scoped_key), common::F("status", status));
    }
  };
  log_transition(effects.provider_transition, "provider");
  log_transition(effects.key_transition, "key");
}

void Exchange::StartAttempt() {
  if (finished_) {
    return;
  }
  attempt_state_ = AttemptState::kSent;
  retry_.OnAttempt();
  const auto& prov = provider();
  prov.state->requests.fetch_add(1, std::memory_order_relaxed);
  in_flight_ = state::InFlight(prov.state.get());  // the previous attempt's, if any, ends
  std::string_view key;
  const providers::AwsSigningKey* aws = nullptr;
  if (current_.key >= 0) {
    const auto& k = prov.keys[static_cast<size_t>(current_.key)];
    k.state->requests.fetch_add(1, std::memory_order_relaxed);
    key = k.secret.Reveal();
    if (k.aws) {
      aws = &k.aws->signing;
      key = {};
    }
  }

  // The adapter shapes the request; the exchange only gathers its pieces.
  const auto& req = p_.request;
  const std::string_view body = req.body().view();
  providers::ClientRequestView view{std::string_view(req.target()), req.base(), p_.info, body,
                                    p_.count_tokens, p_.auth.method};
  providers::UpstreamTarget target;
  target.host_header = prov.url.host_header;
  target.path_prefix = prov.url.path_prefix;
  target.mapped_model = prov.MapModel(route_.model);
  target.key = key;
  target.aws = aws;
  target.region = prov.region;
  target.project = prov.project;
  target.unix_seconds = common::RealClock::Get().UnixMillis() / 1000;
  target.passthrough = prov.passthrough();
  target.oauth_token =
      current_.key >= 0 && prov.keys[static_cast<size_t>(current_.key)].oauth_token;
  target.betas = prov.betas.get();
  plan_.Clear();
  if (plan_.head.capacity() < kHeadBytes) {
    plan_.head = p_.worker->head_pool.Acquire();
    plan_.head.reserve(kHeadBytes);
  }
  if (plan_.rewritten_body.capacity() == 0) {
    plan_.rewritten_body = p_.worker->rewrite_pool.Acquire();  // warm: no mmap per request
  }
  prov.adapter->BuildRequest(view, target, &plan_);
  if (!plan_.error.empty()) {
    // The request itself cannot take this provider's shape: nothing goes upstream.
    attempt_state_ = AttemptState::kNone;
    picker_->Abandon(current_, false);
    WriteRelayError(400, "invalid_request_error", plan_.error);
    return;
  }
  if (!plan_.betas.dropped.empty()) {
    ReportDroppedBetas();
  }

  size_t n = 0;
  request_bufs_[n++] = asio::buffer(plan_.head);
  switch (plan_.body_kind) {
    case providers::UpstreamRequestPlan::BodyKind::kUnchanged:
      request_bufs_[n++] = asio::buffer(body.data(), body.size());
      break;
    case providers::UpstreamRequestPlan::BodyKind::kSpliced: {
      size_t at = 0;
      static_assert(2 + 2 * providers::UpstreamRequestPlan::kMaxSplices <= 8);
      for (const auto& s : plan_.splices) {
        request_bufs_[n++] = asio::buffer(body.data() + at, s.begin - at);
        const std::string_view bytes = s.Bytes();
        request_bufs_[n++] = asio::buffer(bytes.data(), bytes.size());
        at = s.end;
      }
      request_bufs_[n++] = asio::buffer(body.data() + at, body.size() - at);
      break;
    }
    case providers::UpstreamRequestPlan::BodyKind::kRewritten:
      request_bufs_[n++] = asio::buffer(plan_.rewritten_body);
      break;
  }
  request_buf_count_ = n;
  SendAttempt(false);
}

void Exchange::ReportDroppedBetas() {
  const auto& prov = provider();
  CCR_LOG(kDebug, "betas_dropped", common::F("request_id", p_.request_id),
          common::F("provider", prov.name), common::Q("betas", plan_.betas.dropped.Joined()));
  if (auto* obs = p_.worker->observer) {
    for (const auto& item : plan_.betas.dropped.items()) {
      obs->OnBetaDropped(prov.name, item.label);
    }
  }
}

void Exchange::SendAttempt(bool fresh_connection) {
  const auto& prov = provider();
  upstream::UpstreamEndpoint endpoint{prov.url.host, prov.url.port, prov.url.tls, prov.tls,
                                      prov.url.pool_key};
  upstream::StepTimeouts timeouts;
  timeouts.connect = table_.timeouts.connect;
  timeouts.first_byte = p_.info.stream || p_.count_tokens ? table_.timeouts.first_byte
                                                          : table_.timeouts.first_byte_non_stream;
  timeouts.idle = table_.timeouts.idle;
  attempt_sent_ = std::chrono::steady_clock::now();
  upstream_->Send(endpoint, timeouts,
                  std::span<const asio::const_buffer>(request_bufs_.data(), request_buf_count_),
                  fresh_connection);
}

void Exchange::OnUpstreamFailure(const upstream::UpstreamFailure& failure) {
  if (finished_) {
    return;
  }
  if (response_started_) {
    UpstreamDiedMidStream(failure.detail);
    return;
  }
  if (reading_retried_body_) {
    // The retried answer's body was cut short: what was read of it is kept.
    RetriedAnswerRead();
    return;
  }
  // A kept-alive connection the upstream had closed while it sat in the pool: reconnect once
  // with the same candidate; this is not a new attempt.
  if (retry_.ReconnectAfter(failure)) {
    SendAttempt(true);
    return;
  }
  retry_.RecordTransportFailure(failure);
  // No answer at all (an answer's status was settled when its head arrived).
  attempt_state_ = AttemptState::kSettled;
  LogEffects(picker_->OnTransportFailure(current_), 0);
  static constexpr const char* kReason[] = {"connect", "timeout", "reset"};
  AttemptFailed(After::kProviderFailure, kReason[static_cast<int>(failure.kind)], 0,
                failure.detail);
}

void Exchange::OnUpstreamHead(const upstream::UpstreamResponseHead& head) {
  if (finished_) {
    return;
  }
  status_ = head.status;
  const auto& prov = provider();
  // Key pools: learn from the rate-limit headers, cool / disable the key, count the outcome for
  // the breakers, move the session's affinity.
  state::UpstreamLimits limits;
  if (current_.key >= 0) {
    const int64_t now_unix_ms = common::RealClock::Get().UnixMillis();
    for (const auto& f : head.fields) {
      limits.Add(f.name_string(), f.value(), now_unix_ms);
    }
  }
  const providers::AnswerVerdict verdict =
      prov.adapter->Classify(status_, head.fields, current_.key >= 0);
  attempt_state_ = AttemptState::kSettled;
  LogEffects(picker_->OnResponse(current_, status_, verdict.answer, limits), status_);
  if (verdict.retryable && retry_.CanRetry(std::chrono::steady_clock::now()) &&
      picker_->Next(RetryPolicy::AfterAnswer(verdict.answer), &next_)) {
    // Read the (small) error body so the connection can be reused and the answer returned
    // verbatim should it be the last one.
    have_next_ = true;
    retried_answer_ = verdict.answer;
    // Kept in the client's format (Bedrock's error JSON becomes Anthropic's) should it be
    // returned.
    retry_decoder_ =
        provider().adapter->NewResponseDecoder(status_, head.fields, p_.count_tokens);
    std::string lines;
    AppendAnswerHeaders(head, /*drop_length=*/true, /*drop_content_type=*/retry_decoder_ != nullptr,
                        &lines);
    if (retry_decoder_) {
      common::StrAppendPieces(&lines, {"content-type: ", retry_decoder_->ContentType(), "\r\n"});
    }
    retry_.RecordAnswer(status_, head.reason, std::move(lines));
    reading_retried_body_ = true;
    bool end = false;
    retry_.AppendAnswerBody(upstream_->TakeBuffered(&end));
    if (end) {
      RetriedAnswerRead();
    } else {
      upstream_->ReadBody();
    }
    return;
  }
  if (verdict.answer != providers::AnswerClass::kSuccess &&
      verdict.answer != providers::AnswerClass::kClientError) {
    // An upstream failure with no other candidate left (or no time): it goes to the client as
    // it is, and counts as a failed attempt like one that is retried.
    CountFailedAttempt("status", status_, common::StrCat("HTTP ", status_, " (returned)"));
  }
  StartResponse(head);
}

void Exchange::RetriedAnswerRead() {
  reading_retried_body_ = false;
  if (auto decoder = std::move(retry_decoder_)) {
    std::string decoded;
    if (decoder->Decode(retry_.last().body, true, &decoded).ok()) {
      retry_.ReplaceAnswerBody(std::move(decoded));
    }
  }
  AttemptFailed(RetryPolicy::AfterAnswer(retried_answer_), "status", status_,
                retry_.last().detail);
}

void Exchange::AttemptFailed(After after, std::string_view reason_kind, int status,
                             std::string_view detail) {
  CountFailedAttempt(reason_kind, status, detail);
  NextAttempt(after);
}

void Exchange::CountFailedAttempt(std::string_view reason_kind, int status,
                                  std::string_view detail) {
  const auto& prov = provider();
  if (current_.key >= 0) {
    prov.keys[static_cast<size_t>(current_.key)].state->failures.fetch_add(
        1, std::memory_order_relaxed);
  }
  if (auto* obs = p_.worker->observer) {
    obs->OnAttemptFailed(stats::AttemptRecord{prov.name, std::string(KeyFingerprint()),
                                              std::string(reason_kind), status});
  }
  CCR_LOG(kInfo, "upstream_attempt_failed", common::F("request_id", p_.request_id),
          common::F("provider", prov.name),
          common::F("key", current_.key >= 0 ? KeyFingerprint() : std::string_view("-")),
          common::F("attempt", retry_.attempts()), common::Q("reason", detail));
}

void Exchange::FinishWithFailure() {
  const LastFailure& last = retry_.last();
  switch (last.kind) {
    case LastFailure::Kind::kStatus: {
      status_ = last.status;
      head_lines_ = common::StrCat(last.header_lines, "x-cc-relay-request-id: ", p_.request_id,
                                   "\r\nx-cc-relay-attempts: ", retry_.attempts(), "\r\n");
      ResponseHead head;
      head.status = last.status;
      head.reason = last.reason;
      head.header_lines = head_lines_;
      head.content_length = last.body.size();
      head_pending_ = true;
      body_done_ = true;
          client_->SendHead(head, last.body, true);
      return;
    }
    case LastFailure::Kind::kTimeout:
      WriteRelayError(504, "timeout_error", common::StrCat("upstream timed out: ", last.detail));
      return;
    default:
      WriteRelayError(502, "api_error",
                      common::StrCat("upstream connection failed: ", last.detail));
      return;
  }
}

void Exchange::AppendAnswerHeaders(const upstream::UpstreamResponseHead& head, bool drop_length,
                                   bool drop_content_type, std::string* out) const {
  const auto& prov = provider();
  const std::string_view connection = HeaderValue(head.fields, "connection");
  for (const auto& f : head.fields) {
    const std::string_view name = f.name_string();
    if (http::IsHopByHopHeader(name, connection)) {
      continue;
    }
    if ((drop_length && f.name() == bhttp::field::content_length) ||
        (drop_content_type && f.name() == bhttp::field::content_type)) {
      continue;
    }
    common::StrAppendPieces(out, {name, ": ", std::string_view(f.value()), "\r\n"});
  }
  if (head.fields.find("request-id") == head.fields.end()) {
    common::StrAppendPieces(out, {"request-id: ", p_.request_id, "\r\n"});
  }
  common::StrAppendPieces(out, {"x-cc-relay-provider: ", prov.name, "\r\n"});
  if (grant_ != nullptr && !grant_->warning.empty()) {
    common::StrAppendPieces(out, {kBudgetWarningHeader, ": ", grant_->warning, "\r\n"});
  }
  if (current_.key >= 0) {
    common::StrAppend(out, "x-cc-relay-key: ", KeyFingerprint(),
                      "\r\nx-cc-relay-keys-available: ", current_.keys_available,
                      "\r\nx-cc-relay-keys-total: ", current_.keys_total, "\r\n");
  }
}

void Exchange::StartResponse(const upstream::UpstreamResponseHead& head) {
  response_started_ = true;
  reason_ = head.reason;
  decoder_ = provider().adapter->NewResponseDecoder(status_, head.fields, p_.count_tokens);
  const std::string_view content_type =
      decoder_ ? decoder_->ContentType() : HeaderValue(head.fields, "content-type");
  sse_ = common::StartsWithIgnoreCase(content_type, "text/event-stream");
  chunked_ = sse_ || !head.has_content_length || decoder_ != nullptr;
  times_.first_byte = std::chrono::steady_clock::now();
  times_.have_first_byte = true;
  if (sse_ && p_.worker->observer != nullptr) {
    p_.worker->observer->OnStreamStarted();
    stream_counted_ = true;
  }
  std::string& h = head_lines_;
  if (h.capacity() < kHeadBytes) {
    h = p_.worker->head_pool.Acquire();
    h.reserve(kHeadBytes);
  }
  h.clear();
  AppendAnswerHeaders(head, /*drop_length=*/chunked_, /*drop_content_type=*/decoder_ != nullptr,
                      &h);
  if (decoder_) {
    common::StrAppendPieces(&h, {"content-type: ", content_type, "\r\n"});
  }
  common::StrAppend(&h, "x-cc-relay-request-id: ", p_.request_id,
                    "\r\nx-cc-relay-attempts: ", retry_.attempts(), "\r\n");
  // The head goes out with whatever body bytes already arrived, in one write; with no body
  // bytes yet it goes out alone at once (time to first byte).
  head_pending_ = true;
  bool end = false;
  const std::string_view first = upstream_->TakeBuffered(&end);
  body_done_ = end;
  if (!Consume(first, end)) {
    body_done_ = false;  // the head goes alone; the failure follows once it is written
  }
  ForwardBytes(body_done_);
}

bool Exchange::Consume(std::string_view bytes, bool end) {
  if (decoder_) {
    const absl::Status st = decoder_->Decode(bytes, end, &pending_);
    if (!st.ok()) {
      decode_error_ = common::StrCat("cannot decode the upstream answer: ", st.message());
      return false;
    }
    return true;
  }
  if (!sse_) {
    if (json_copy_.size() + bytes.size() <= kMaxUsageCopyBytes) {
      if (json_copy_.empty() && json_copy_.capacity() < kHeadBytes) {
        json_copy_ = p_.worker->head_pool.Acquire();  // a warm string: most answers fit
        json_copy_.reserve(kHeadBytes);
      }
      json_copy_.append(bytes);
    }
    if (pending_.empty()) {
      direct_ = bytes;  // forwarded as it is, no copy (valid until the next upstream read)
      return true;
    }
  }
  pending_.append(bytes);
  return true;
}

void Exchange::OnUpstreamData(std::string_view bytes, bool end) {
  if (finished_) {
    return;
  }
  if (reading_retried_body_) {
    retry_.AppendAnswerBody(bytes);
    if (end) {
      RetriedAnswerRead();
    } else {
      upstream_->ReadBody();
    }
    return;
  }
  body_done_ = end;
  if (!Consume(bytes, end)) {
    UpstreamDiedMidStream(decode_error_);
    return;
  }
  ForwardBytes(end);
}

void Exchange::ForwardBytes(bool final_chunk) {
  std::string_view chunk;
  if (!direct_.empty()) {
    chunk = direct_;
    writing_ = 0;
  } else {
    size_t len = pending_.size();
    if (sse_ && !final_chunk) {
      len = http::LastEventBoundary(pending_);
      if (len == 0 && pending_.size() >= kMaxHeldEventBytes) {
        len = pending_.size();
      }
    }
    chunk = std::string_view(pending_.data(), len);
    writing_ = len;
  }
  if (chunk.empty() && !final_chunk && !head_pending_) {
    upstream_->ReadBody();
    return;
  }
  if (sse_) {
    observer_.Feed(chunk);
    picker_->SyncUsage(current_, observer_.usage());
    if (!times_.have_first_token && observer_.saw_content()) {
      times_.first_token = std::chrono::steady_clock::now();
      times_.have_first_token = true;
    }
  }
  if (head_pending_) {
    ResponseHead head;
    head.status = status_;
    head.reason = reason_;
    head.header_lines = head_lines_;
    // A Content-Length answer passes its own length header through.
    head.framing = chunked_ ? Framing::kChunked : Framing::kInHeaderLines;
    client_->SendHead(head, chunk, final_chunk);
  } else {
    client_->SendData(chunk, final_chunk);
  }
}

void Exchange::OnClientWritten() {
  if (head_pending_) {
    head_pending_ = false;
    // The answer has started and no attempt can follow: the client's request (headers, body)
    // and the upstream head are not needed any more, and a stream may last minutes (Claude
    // Code's bodies are often hundreds of KB). Freed after the head went out, not before it.
    FreeRequest();
  }
  if (finished_) {
    return;
  }
  direct_ = {};
  if (writing_ > 0) {
    pending_.erase(0, writing_);
    writing_ = 0;
  }
  if (!decode_error_.empty() && response_started_ && !upstream_error_) {
    UpstreamDiedMidStream(decode_error_);
    return;
  }
  if (body_done_ || upstream_error_) {
    // The last bytes are written (the answer, a relay error, or the error event after an
    // upstream failure mid-stream).
    Finish(p_.client_keep_alive);
    return;
  }
  upstream_->ReadBody();
}

void Exchange::UpstreamDiedMidStream(std::string_view detail) {
  const auto& prov = provider();
  CCR_LOG(kWarn, "upstream_died_mid_stream", common::F("request_id", p_.request_id),
          common::F("provider", prov.name), common::Q("reason", detail));
  LogEffects(picker_->OnMidStreamFailure(current_), status_);
  upstream_->Cancel();
  if (!sse_ || !chunked_) {
    // The client was promised a length or a JSON body: the only honest signal is to close.
    Finish(false);
    return;
  }
  // Forward the complete events still held, drop a partial one, then end the stream with an
  // Anthropic error event and a well-formed end of the chunked body.
  const size_t complete = http::LastEventBoundary(pending_);
  pending_.resize(complete);
  observer_.Feed(pending_);
  picker_->SyncUsage(current_, observer_.usage());
  const std::string event = http::AnthropicErrorEvent(
      "api_error", common::StrCat("upstream connection lost mid-stream: ", detail),
      p_.request_id);
  std::string& out = error_out_;
  out.clear();
  if (!pending_.empty()) {
    common::StrAppend(&out, common::Hex(pending_.size()), "\r\n", pending_, "\r\n");
  }
  common::StrAppend(&out, common::Hex(event.size()), "\r\n", event, "\r\n0\r\n\r\n");
  pending_.clear();
  writing_ = 0;
  status_ = status_ == 0 ? 502 : status_;
  upstream_error_ = true;
  client_->SendRaw(out);
}

void Exchange::WriteRelayError(int status, std::string_view type, std::string_view message,
                               std::string_view extra_headers) {
  status_ = status;
  error_out_ = http::AnthropicErrorBody(type, message, p_.request_id);
  std::string& h = head_lines_;
  h = common::StrCat("content-type: application/json\r\nrequest-id: ", p_.request_id,
                     "\r\nx-cc-relay-request-id: ", p_.request_id,
                     "\r\nx-cc-relay-attempts: ", retry_.attempts(), "\r\n");
  if (status == 529 || status == 503 || status == 502 || status == 504) {
    h += "x-should-retry: true\r\n";
  }
  if (grant_ != nullptr && !grant_->warning.empty()) {
    common::StrAppendPieces(&h, {kBudgetWarningHeader, ": ", grant_->warning, "\r\n"});
  }
  h += extra_headers;
  ResponseHead head;
  head.status = status;
  head.header_lines = h;
  head.content_length = error_out_.size();
  head_pending_ = true;
  body_done_ = true;
  client_->SendHead(head, error_out_, true);
}

void Exchange::FreeRequest() {
  if (std::exchange(request_freed_, true)) {
    return;
  }
  p_.worker->body_pool.Give(std::move(p_.request.body()));
  p_.request = ClientRequest();
  p_.worker->rewrite_pool.Give(std::move(plan_.rewritten_body));
  p_.worker->head_pool.Give(std::move(plan_.head));
  plan_ = providers::UpstreamRequestPlan();
  p_.worker->head_pool.Give(std::move(head_lines_));
  head_lines_ = std::string();
  retry_.ForgetLast();
}

void Exchange::Finish(bool keep_alive) {
  if (finished_) {
    return;
  }
  finished_ = true;
  in_flight_.Release();
  backoff_timer_.cancel();
  if (upstream_) {
    upstream_->Cancel();  // closes a connection that did not finish its answer; no more calls
  }
  const http::Usage usage = sse_ ? observer_.usage() : http::UsageFromMessageBody(&json_copy_);
  p_.worker->head_pool.Give(std::move(json_copy_));
  json_copy_ = std::string();
  if (picker_) {
    // Reservations of candidates that never got a verdict go back (probes released).
    if (have_next_) {
      picker_->Abandon(next_, false);
      have_next_ = false;
    }
    if (attempt_state_ == AttemptState::kPicked || attempt_state_ == AttemptState::kSent) {
      picker_->Abandon(current_, attempt_state_ == AttemptState::kSent);
    } else if (attempt_state_ == AttemptState::kSettled && response_started_ && status_ >= 200 &&
               status_ < 300) {
      picker_->SyncUsage(current_, usage);
    }
    attempt_state_ = AttemptState::kNone;
  }
  RequestSummary s;
  s.request_id = p_.request_id;
  s.connection_id = p_.connection_id;
  s.model = p_.info.model;
  s.rule = route_.rule;
  s.status = status_;
  s.attempts = retry_.attempts();
  s.usage = usage;
  s.stream = p_.info.stream;
  s.sse = sse_;
  s.count_tokens = p_.count_tokens;
  s.client_gone = cancelled_;
  s.upstream_error = upstream_error_;
  if (p_.user != nullptr) {
    s.user = p_.user->name;
    s.user_key_fingerprint = p_.user->fingerprint;
  }
  if (retry_.attempts() > 0) {
    const auto& prov = provider();
    s.provider = prov.name;
    s.key_fingerprint = KeyFingerprint();
    s.cost_usd = prov.pricing.Cost(prov.MapModel(route_.model), usage);
  }
  // The usage record (and the user's spend) first: a client that reads the `request` log line
  // or sends its next request finds the spend counted.
  AccountUser(usage, s.cost_usd, cancelled_ ? 499 : status_,
              std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - times_.start)
                  .count());
  RecordRequest(s, times_, p_.worker->observer);
  if (retry_.attempts() > 0) {
    routing::Outcome o;
    o.provider = current_.provider;
    o.model = route_.model;
    o.status = status_;
    o.stream = sse_;
    o.count_tokens = p_.count_tokens;
    o.complete = body_done_ && !cancelled_ && !upstream_error_;
    o.sent = attempt_sent_;
    o.first_token = times_.have_first_token  ? times_.first_token
                    : times_.have_first_byte ? times_.first_byte
                                             : std::chrono::steady_clock::time_point();
    o.end = std::chrono::steady_clock::now();
    o.input_tokens = usage.input_tokens;
    o.output_tokens = usage.output_tokens;
    o.max_tokens = p_.info.max_tokens;
    routing::Learn(table_, o);
  }
  if (stream_counted_ && p_.worker->observer != nullptr) {
    p_.worker->observer->OnStreamEnded();
  }
  FreeRequest();
  if (ClientStream* client = std::exchange(client_, nullptr)) {
    client->ExchangeDone(keep_alive && !cancelled_);
  }
}

}  // namespace ccrelay::proxy
