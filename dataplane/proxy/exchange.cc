#include "dataplane/proxy/exchange.h"

#include <algorithm>
#include <array>

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/read.hpp>

#include "dataplane/common/log.h"
#include "dataplane/common/str.h"
#include "dataplane/http/anthropic_error.h"
#include "dataplane/http/sse_boundary.h"
#include "dataplane/providers/provider.h"
#include "dataplane/upstream/tls_context_impl.h"

namespace ccrelay::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

// The upstream body read buffer starts small (a held SSE stream gets a few hundred bytes per
// read) and grows once a read fills it (a fast or large answer).
constexpr size_t kReadBufferBytes = 2 * 1024;
constexpr size_t kMaxReadBufferBytes = 16 * 1024;
constexpr size_t kMaxRetryBodyBytes = 1 << 20;
constexpr size_t kMaxUsageCopyBytes = 1 << 20;
// A single SSE event larger than this is forwarded before its end is seen (memory bound).
constexpr size_t kMaxHeldEventBytes = 256 * 1024;

bool IsHopByHop(std::string_view name) {
  static constexpr std::array<std::string_view, 9> kHop = {
      "connection", "keep-alive",         "proxy-connection",  "transfer-encoding", "te",
      "trailer",    "upgrade",            "proxy-authorization", "proxy-authenticate"};
  for (std::string_view h : kHop) {
    if (common::EqualsIgnoreCase(name, h)) {
      return true;
    }
  }
  return false;
}

// Header names listed in a Connection header are hop-by-hop too (RFC 9110 §7.6.1).
bool NamedInConnection(std::string_view connection_value, std::string_view name) {
  if (connection_value.empty()) {
    return false;
  }
  while (!connection_value.empty()) {
    const size_t comma = connection_value.find(',');
    const std::string_view token = connection_value.substr(0, comma);
    if (common::EqualsIgnoreCase(common::StripWhitespace(token), name)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    connection_value.remove_prefix(comma + 1);
  }
  return false;
}

bool IsRetryableStatus(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504 ||
         status == 529;
}

template <class Fields>
std::string_view HeaderValue(const Fields& fields, bhttp::field f) {
  auto it = fields.find(f);
  return it == fields.end() ? std::string_view() : std::string_view(it->value());
}

template <class Fields>
std::string_view HeaderValue(const Fields& fields, std::string_view name) {
  auto it = fields.find(boost::beast::string_view(name.data(), name.size()));
  return it == fields.end() ? std::string_view() : std::string_view(it->value());
}

using CandidatePickerAfter = routing::CandidatePicker::After;

// Claude Code's session header (else the session inside metadata.user_id), for affinity.
constexpr std::string_view kSessionHeader = "x-claude-code-session-id";

// Input tokens of a request before the upstream counts them: about 4 bytes of JSON per token
// (what Anthropic suggests for English text). Base64 images and JSON punctuation make it an
// overestimate, which errs on the safe side; the real count replaces it as soon as the answer
// reports usage (message_start, or the body's usage).
int64_t EstimateInputTokens(size_t body_bytes) { return static_cast<int64_t>(body_bytes / 4); }

CandidatePickerAfter AfterStatus(int status) {
  if (status == 429 || status == 401 || status == 403) {
    return CandidatePickerAfter::kKeyProblem;
  }
  if (status == 529) {
    return CandidatePickerAfter::kOverloaded;
  }
  return CandidatePickerAfter::kProviderFailure;
}

int64_t MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t)
      .count();
}

}  // namespace

Exchange::Exchange(Params&& params)
    : p_(std::move(params)),
      table_(*p_.table),
      timer_(p_.worker->ioc),
      backoff_timer_(p_.worker->ioc) {
  deadline_ = p_.start + table_.timeouts.total;
}

void Exchange::Start() {
  std::vector<uint32_t> eligible;
  table_.Eligible(p_.info.model, p_.count_tokens, &eligible);
  table_.strategy->Rank(table_, eligible, &ranked_);
  if (ranked_.empty()) {
    if (p_.count_tokens) {
      WriteRelayError(404, "not_found_error",
                      common::StrCat("count_tokens is not supported by any provider serving model ",
                                   p_.info.model));
    } else {
      WriteRelayError(503, "api_error",
                      common::StrCat("no provider is available for model ", p_.info.model));
    }
    return;
  }
  // Key pools: the request's estimated input tokens are reserved on the key tried and corrected
  // with the usage the answer reports (count_tokens requests are not metered).
  state::RequestCost cost;
  cost.metered = !p_.count_tokens;
  cost.input_tokens = cost.metered ? EstimateInputTokens(p_.request.body().size()) : 0;
  std::string session(HeaderValue(p_.request, kSessionHeader));
  if (session.empty()) {
    session = p_.info.session_id;
  }
  picker_.emplace(table_, ranked_, cost, std::move(session), common::RealClock::Get());
  NextAttempt(After::kStart);
}

void Exchange::Cancel() {
  if (finished_) {
    return;
  }
  cancelled_ = true;
  CCR_LOG(kDebug, "client_gone", common::F("request_id", p_.request_id));
  DisarmTimer();
  if (conn_) {
    DiscardConnection();
  }
  Finish(false);
}

bool Exchange::CanRetry() const {
  return attempts_ < table_.max_attempts && std::chrono::steady_clock::now() < deadline_;
}

void Exchange::NextAttempt(After after) {
  if (finished_) {
    return;
  }
  Candidate next;
  if (have_next_) {
    next = next_;
    have_next_ = false;
  } else if (attempts_ > 0 && !CanRetry()) {
    FinishWithFailure();
    return;
  } else if (!picker_->Next(after, &next)) {
    if (attempts_ == 0) {
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
  WriteRelayError(503, "api_error",
                  common::StrCat("no provider is available for model ", p_.info.model));
}

void Exchange::LogEffects(const routing::ResponseEffects& effects, int status) {
  const auto& prov = table_.providers[current_.provider];
  const std::string key = current_.key >= 0
                              ? prov.keys[static_cast<size_t>(current_.key)].secret.Fingerprint()
                              : std::string("-");
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
    if (t == Transition::kClosed) {
      CCR_LOG(kInfo, event, common::F("scope", scope), common::F("provider", prov.name),
              common::F("key", scope == "key" ? key : std::string("-")));
    } else {
      CCR_LOG(kWarn, event, common::F("scope", scope), common::F("provider", prov.name),
              common::F("key", scope == "key" ? key : std::string("-")),
              common::F("status", status));
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
  ++attempts_;
  stale_retry_done_ = false;
  timed_out_ = false;
  attempt_start_ = std::chrono::steady_clock::now();
  const auto& prov = table_.providers[current_.provider];
  prov.state->requests.fetch_add(1, std::memory_order_relaxed);
  if (current_.key >= 0) {
    prov.keys[static_cast<size_t>(current_.key)].state->requests.fetch_add(
        1, std::memory_order_relaxed);
  }
  BuildUpstreamRequest();
  conn_ = p_.worker->pool.Take(prov.url.pool_key);
  pooled_reuse_ = conn_ != nullptr;
  if (conn_) {
    SendRequest();
  } else {
    Connect();
  }
}

void Exchange::Connect() {
  const auto& prov = table_.providers[current_.provider];
  pooled_reuse_ = false;
  conn_ = std::make_unique<upstream::UpstreamConnection>(p_.client->get_executor(),
                                                         prov.url.pool_key);
  ArmTimer(table_.timeouts.connect);
  p_.worker->resolver.async_resolve(
      prov.url.host, prov.url.port,
      beast::bind_front_handler(&Exchange::OnResolved, shared_from_this()));
}

void Exchange::OnResolved(const error_code& ec, asio::ip::tcp::resolver::results_type results) {
  if (finished_) {
    return;
  }
  if (ec) {
    AttemptFailed(timed_out_ ? Failure::kTimeout : Failure::kConnect,
                  common::StrCat("resolve: ", ec.message()));
    return;
  }
  asio::async_connect(conn_->socket(), results,
                      [self = shared_from_this()](const error_code& e, const auto&) {
                        self->OnConnected(e);
                      });
}

void Exchange::OnConnected(const error_code& ec) {
  if (finished_) {
    return;
  }
  if (ec) {
    AttemptFailed(timed_out_ ? Failure::kTimeout : Failure::kConnect,
                  common::StrCat("connect: ", ec.message()));
    return;
  }
  error_code ignored;
  conn_->socket().set_option(asio::ip::tcp::no_delay(true), ignored);
  const auto& prov = table_.providers[current_.provider];
  if (!prov.url.tls) {
    SendRequest();
    return;
  }
  conn_->EnableTls(prov.tls->ctx);
  auto& tls = conn_->tls_stream();
  // SNI, and the certificate must name the host (verify_peer is set on the context).
  // SSL_set_tlsext_host_name, without the macro's C-style cast.
  if (SSL_ctrl(tls.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(prov.url.host.c_str())) != 1) {
    AttemptFailed(Failure::kConnect, "tls: cannot set SNI");
    return;
  }
  tls.set_verify_callback(asio::ssl::host_name_verification(prov.url.host));
  tls.async_handshake(asio::ssl::stream_base::client,
                      beast::bind_front_handler(&Exchange::OnHandshake, shared_from_this()));
}

void Exchange::OnHandshake(const error_code& ec) {
  if (finished_) {
    return;
  }
  if (ec) {
    AttemptFailed(timed_out_ ? Failure::kTimeout : Failure::kConnect,
                  common::StrCat("tls handshake: ", ec.message()));
    return;
  }
  SendRequest();
}

void Exchange::BuildUpstreamRequest() {
  const auto& prov = table_.providers[current_.provider];
  const auto& req = p_.request;
  std::string& h = upstream_head_;
  h.clear();
  common::StrAppend(&h, "POST ", prov.url.path_prefix, std::string_view(req.target()),
                  " HTTP/1.1\r\nHost: ", prov.url.host_header, "\r\n");
  const std::string_view connection = HeaderValue(req, bhttp::field::connection);
  const bool replace_credentials = !prov.passthrough() || !prov.adapter->SupportsPassthrough();
  for (const auto& f : req) {
    const std::string_view name = f.name_string();
    if (IsHopByHop(name) || NamedInConnection(connection, name)) {
      continue;
    }
    switch (f.name()) {
      case bhttp::field::host:
      case bhttp::field::content_length:
      case bhttp::field::expect:
      case bhttp::field::accept_encoding:
        continue;
      case bhttp::field::authorization:
        // A relay credential (generic bearer) never leaves; a subscription token passes
        // through to a passthrough provider only.
        if (replace_credentials || p_.auth.method == auth::AuthMethod::kBearer) {
          continue;
        }
        break;
      default:
        if (common::EqualsIgnoreCase(name, "x-api-key")) {
          if (replace_credentials || p_.auth.method == auth::AuthMethod::kApiKey) {
            continue;
          }
        } else if (common::StartsWithIgnoreCase(name, "x-cc-relay-")) {
          continue;
        }
        break;
    }
    common::StrAppend(&h, name, ": ", std::string_view(f.value()), "\r\n");
  }
  if (replace_credentials) {
    std::vector<providers::HeaderField> auth_headers;
    const std::string_view key =
        current_.key >= 0 ? prov.keys[static_cast<size_t>(current_.key)].secret.Reveal() : "";
    prov.adapter->AuthHeaders(key, &auth_headers);
    for (const auto& a : auth_headers) {
      common::StrAppend(&h, a.name, ": ", a.value, "\r\n");
    }
  }
  // Identity encoding: the relay reads the SSE stream (usage, event boundaries) on the way.
  const std::string_view mapped = prov.MapModel(p_.info.model);
  splice_model_ = mapped != p_.info.model;
  size_t body_size = req.body().size();
  if (splice_model_) {
    mapped_model_json_ = http::JsonQuote(mapped);
    body_size = body_size - (p_.info.model_token_end - p_.info.model_token_begin) +
                mapped_model_json_.size();
  }
  common::StrAppend(&h, "Accept-Encoding: identity\r\nContent-Length: ", body_size, "\r\n\r\n");
}

void Exchange::SendRequest() {
  const auto& body = p_.request.body();
  ArmTimer(p_.info.stream || p_.count_tokens ? table_.timeouts.first_byte
                                             : table_.timeouts.first_byte_non_stream);
  auto& bufs = request_bufs_;
  size_t n = 0;
  bufs[n++] = asio::buffer(upstream_head_);
  if (splice_model_) {
    bufs[n++] = asio::buffer(body.data(), p_.info.model_token_begin);
    bufs[n++] = asio::buffer(mapped_model_json_);
    bufs[n++] = asio::buffer(body.data() + p_.info.model_token_end,
                             body.size() - p_.info.model_token_end);
  } else {
    bufs[n++] = asio::buffer(body);
  }
  conn_->AsyncWrite(std::span<const asio::const_buffer>(bufs.data(), n),
                    beast::bind_front_handler(&Exchange::OnRequestWritten, shared_from_this()));
}

void Exchange::OnRequestWritten(const error_code& ec, size_t /*n*/) {
  if (finished_) {
    return;
  }
  if (ec) {
    AttemptFailed(timed_out_ ? Failure::kTimeout : Failure::kReset,
                  common::StrCat("write: ", ec.message()));
    return;
  }
  parser_.emplace();
  parser_->header_limit(64 * 1024);
  parser_->body_limit(boost::none);
  conn_->AsyncReadHeader(*parser_,
                         beast::bind_front_handler(&Exchange::OnResponseHeader, shared_from_this()));
}

void Exchange::OnResponseHeader(const error_code& ec, size_t /*n*/) {
  if (finished_) {
    return;
  }
  if (ec) {
    AttemptFailed(timed_out_ ? Failure::kTimeout : Failure::kReset,
                  common::StrCat("response: ", ec.message()));
    return;
  }
  status_ = static_cast<int>(parser_->get().result_int());
  conn_->requests++;
  // Key pools: learn from the rate-limit headers, cool / disable the key, count the outcome for
  // the breakers, move the session's affinity.
  state::UpstreamLimits limits;
  if (current_.key >= 0) {
    const int64_t now_unix_ms = common::RealClock::Get().UnixMillis();
    for (const auto& f : parser_->get()) {
      limits.Add(f.name_string(), f.value(), now_unix_ms);
    }
  }
  attempt_state_ = AttemptState::kSettled;
  LogEffects(picker_->OnResponse(current_, status_, limits), status_);
  // A pooled key the upstream rejects (401/403) is taken out and the next key tried; with the
  // client's own credentials (passthrough) the answer is the client's.
  const bool retryable =
      IsRetryableStatus(status_) || (current_.key >= 0 && (status_ == 401 || status_ == 403));
  if (retryable && CanRetry() && picker_->Next(AfterStatus(status_), &next_)) {
    have_next_ = true;
    ReadRetryBody();
    return;
  }
  StartResponse();
}

void Exchange::ReadRetryBody() {
  // Read the (small) error body so the connection can be reused and the answer returned verbatim
  // should it be the last one.
  last_body_.clear();
  if (parser_->is_done()) {
    AttemptFailed(Failure::kStatus, common::StrCat("status ", status_));
    return;
  }
  ReadUpstreamBody(&Exchange::OnRetryBody);
}

void Exchange::EnsureReadBuffer() {
  if (buf_.size() != 0) {
    return;
  }
  // A pooled connection whose buffer already grew serves a fast upstream: start large.
  const bool fast = conn_ && conn_->buffer().capacity() >=
                                 upstream::UpstreamConnection::kMaxReadBufferBytes;
  buf_.Allocate(fast ? kMaxReadBufferBytes : kReadBufferBytes);
}

void Exchange::ReadUpstreamBody(void (Exchange::*handler)(const error_code&, size_t)) {
  EnsureReadBuffer();
  auto& body = parser_->get().body();
  body.data = buf_.data();
  body.size = buf_.size();
  ArmTimer(table_.timeouts.idle);
  conn_->AsyncReadSome(*parser_, beast::bind_front_handler(handler, shared_from_this()));
}

size_t Exchange::BodyBytesRead(error_code* ec) const {
  if (*ec == bhttp::error::need_buffer) {
    *ec = {};  // the buffer is full: not an error
  }
  return buf_.size() - parser_->get().body().size;
}

void Exchange::OnRetryBody(const error_code& ec_in, size_t /*n*/) {
  if (finished_) {
    return;
  }
  error_code ec = ec_in;
  const size_t got = BodyBytesRead(&ec);
  if (last_body_.size() + got <= kMaxRetryBodyBytes) {
    last_body_.append(buf_.data(), got);
  }
  if (ec) {
    DiscardConnection();
    AttemptFailed(Failure::kStatus, common::StrCat("status ", status_));
    return;
  }
  if (!parser_->is_done()) {
    ReadUpstreamBody(&Exchange::OnRetryBody);
    return;
  }
  AttemptFailed(Failure::kStatus, common::StrCat("status ", status_));
}

void Exchange::AttemptFailed(Failure failure, const std::string& detail) {
  DisarmTimer();
  const auto& prov = table_.providers[current_.provider];
  // A kept-alive connection the upstream had closed while it sat in the pool: reconnect once
  // with the same candidate; this is not a new attempt.
  if (failure == Failure::kReset && pooled_reuse_ && !stale_retry_done_ && !timed_out_) {
    stale_retry_done_ = true;
    pooled_reuse_ = false;
    DiscardConnection();
    Connect();
    return;
  }
  last_failure_ = failure;
  last_detail_ = detail;
  if (failure == Failure::kStatus) {
    last_status_ = status_;
    // Keep the answer as it was, to return it verbatim should it be the last.
    const auto& res = parser_->get();
    last_head_ = common::StrCat("HTTP/1.1 ", status_, " ", std::string_view(res.reason()), "\r\n");
    const std::string_view connection = HeaderValue(res, bhttp::field::connection);
    for (const auto& f : res) {
      const std::string_view name = f.name_string();
      if (IsHopByHop(name) || NamedInConnection(connection, name) ||
          f.name() == bhttp::field::content_length) {
        continue;
      }
      common::StrAppend(&last_head_, name, ": ", std::string_view(f.value()), "\r\n");
    }
    if (res.find("request-id") == res.end()) {
      common::StrAppend(&last_head_, "request-id: ", p_.request_id, "\r\n");
    }
    common::StrAppend(&last_head_, "x-cc-relay-provider: ", prov.name, "\r\n");
    if (current_.key >= 0) {
      common::StrAppend(&last_head_, "x-cc-relay-key: ",
                        prov.keys[static_cast<size_t>(current_.key)].secret.Fingerprint(),
                        "\r\nx-cc-relay-keys-available: ", current_.keys_available,
                        "\r\nx-cc-relay-keys-total: ", current_.keys_total, "\r\n");
    }
    const bool reusable = conn_ && parser_->is_done() && parser_->keep_alive();
    ReleaseConnection(reusable);
  } else if (conn_) {
    DiscardConnection();
  }
  if (current_.key >= 0) {
    prov.keys[static_cast<size_t>(current_.key)].state->failures.fetch_add(
        1, std::memory_order_relaxed);
  }
  if (failure != Failure::kStatus) {
    // No answer at all (an answer's status was settled when its head arrived).
    attempt_state_ = AttemptState::kSettled;
    LogEffects(picker_->OnTransportFailure(current_), 0);
  }
  if (auto* obs = p_.worker->observer) {
    static constexpr const char* kReason[] = {"none", "connect", "timeout", "status", "reset"};
    obs->OnAttemptFailed(stats::AttemptRecord{
        prov.name,
        current_.key >= 0 ? prov.keys[static_cast<size_t>(current_.key)].secret.Fingerprint()
                          : std::string(),
        kReason[static_cast<int>(failure)], failure == Failure::kStatus ? status_ : 0});
  }
  CCR_LOG(kInfo, "upstream_attempt_failed", common::F("request_id", p_.request_id),
          common::F("provider", prov.name),
          common::F("key",
                    current_.key >= 0
                        ? prov.keys[static_cast<size_t>(current_.key)].secret.Fingerprint()
                        : std::string("-")),
          common::F("attempt", attempts_), common::Q("reason", detail));
  NextAttempt(failure == Failure::kStatus ? AfterStatus(last_status_) : After::kProviderFailure);
}

void Exchange::FinishWithFailure() {
  switch (last_failure_) {
    case Failure::kStatus: {
      std::string out = last_head_;
      common::StrAppend(&out, "x-cc-relay-request-id: ", p_.request_id,
                      "\r\nx-cc-relay-attempts: ", attempts_, "\r\ncontent-length: ",
                      last_body_.size(), "\r\n");
      if (!p_.client_keep_alive) {
        out += "connection: close\r\n";
      }
      out += "\r\n";
      out += last_body_;
      status_ = last_status_;
      WriteAll(std::move(out), true, p_.client_keep_alive);
      return;
    }
    case Failure::kTimeout:
      WriteRelayError(504, "timeout_error", common::StrCat("upstream timed out: ", last_detail_));
      return;
    default:
      WriteRelayError(502, "api_error",
                      common::StrCat("upstream connection failed: ", last_detail_));
      return;
  }
}

void Exchange::StartResponse() {
  response_started_ = true;
  const auto& prov = table_.providers[current_.provider];
  const auto& res = parser_->get();
  const std::string_view content_type = HeaderValue(res, bhttp::field::content_type);
  sse_ = common::StartsWithIgnoreCase(content_type, "text/event-stream");
  const bool has_length = res.has_content_length();
  chunked_ = sse_ || !has_length;
  first_byte_at_ = std::chrono::steady_clock::now();
  have_first_byte_ = true;
  if (sse_ && p_.worker->observer != nullptr) {
    p_.worker->observer->OnStreamStarted();
    stream_counted_ = true;
  }

  std::string& h = out_;
  h.clear();
  common::StrAppend(&h, "HTTP/1.1 ", status_, " ", std::string_view(res.reason()), "\r\n");
  const std::string_view connection = HeaderValue(res, bhttp::field::connection);
  for (const auto& f : res) {
    const std::string_view name = f.name_string();
    if (IsHopByHop(name) || NamedInConnection(connection, name)) {
      continue;
    }
    if (f.name() == bhttp::field::content_length && chunked_) {
      continue;
    }
    common::StrAppend(&h, name, ": ", std::string_view(f.value()), "\r\n");
  }
  if (res.find("request-id") == res.end()) {
    common::StrAppend(&h, "request-id: ", p_.request_id, "\r\n");
  }
  common::StrAppend(&h, "x-cc-relay-request-id: ", p_.request_id, "\r\nx-cc-relay-provider: ",
                  prov.name, "\r\nx-cc-relay-attempts: ", attempts_, "\r\n");
  if (current_.key >= 0) {
    common::StrAppend(
        &h, "x-cc-relay-key: ", prov.keys[static_cast<size_t>(current_.key)].secret.Fingerprint(),
        "\r\nx-cc-relay-keys-available: ", current_.keys_available,
        "\r\nx-cc-relay-keys-total: ", current_.keys_total, "\r\n");
  }
  if (chunked_) {
    h += "transfer-encoding: chunked\r\n";
  }
  if (!p_.client_keep_alive) {
    h += "connection: close\r\n";
  }
  h += "\r\n";
  // The head goes out with whatever body bytes already arrived, in one write; with no body
  // bytes yet it goes out alone at once (time to first byte).
  head_pending_ = true;
  writing_ = 0;
  PullBufferedBody();
  body_done_ = parser_->is_done();
  ForwardBytes(body_done_);
}

void Exchange::PullBufferedBody() {
  auto& buffer = conn_->buffer();
  if (parser_->is_done() || buffer.size() == 0) {
    return;
  }
  EnsureReadBuffer();
  // Eager only for this synchronous drain of chunks already buffered: an eager parser inside
  // async_read_some would keep reading until the buffer fills, holding events back.
  auto& body = parser_->get().body();
  body.data = buf_.data();
  body.size = buf_.size();
  error_code ec;
  parser_->eager(true);
  const size_t used = parser_->put(buffer.data(), ec);
  parser_->eager(false);
  buffer.consume(used);
  ConsumeBody(buf_.size() - parser_->get().body().size);
}

void Exchange::ConsumeBody(size_t got) {
  if (got == 0) {
    return;
  }
  pending_.append(buf_.data(), got);
  if (!sse_ && json_copy_.size() + got <= kMaxUsageCopyBytes) {
    json_copy_.append(buf_.data(), got);
  }
  if (got * 2 >= buf_.size() && buf_.size() < kMaxReadBufferBytes) {
    // A read filled half the buffer or more: this answer comes in bursts (a slow stream's reads
    // are single events of a few hundred bytes); read it in larger pieces. (The parser's body
    // pointer is set again before every read.)
    buf_.Allocate(kMaxReadBufferBytes);
    if (conn_) {
      conn_->buffer().reserve(upstream::UpstreamConnection::kMaxReadBufferBytes);
    }
  }
}

void Exchange::ReadBody() { ReadUpstreamBody(&Exchange::OnBodyRead); }

void Exchange::OnBodyRead(const error_code& ec_in, size_t /*n*/) {
  if (finished_) {
    return;
  }
  error_code ec = ec_in;
  ConsumeBody(BodyBytesRead(&ec));
  if (ec) {
    UpstreamDiedMidStream(timed_out_ ? "upstream idle timeout" : ec.message());
    return;
  }
  PullBufferedBody();  // further chunks that arrived in the same read
  body_done_ = parser_->is_done();
  ForwardBytes(body_done_);
}

void Exchange::ForwardBytes(bool final_chunk) {
  size_t len = pending_.size();
  if (sse_ && !final_chunk) {
    len = http::LastEventBoundary(pending_);
    if (len == 0 && pending_.size() >= kMaxHeldEventBytes) {
      len = pending_.size();
    }
  }
  if (len == 0 && !final_chunk && !head_pending_) {
    ReadBody();
    return;
  }
  if (sse_) {
    observer_.Feed(std::string_view(pending_.data(), len));
    picker_->SyncUsage(current_, observer_.usage());
    if (!have_first_token_ && observer_.saw_content()) {
      first_token_at_ = std::chrono::steady_clock::now();
      have_first_token_ = true;
    }
  }
  writing_ = len;
  auto& bufs = write_bufs_;
  size_t n = 0;
  if (head_pending_) {
    bufs[n++] = asio::buffer(out_);
  }
  if (chunked_) {
    chunk_head_ = common::StrCat(common::Hex(len), "\r\n");
    if (len > 0) {
      bufs[n++] = asio::buffer(chunk_head_);
      bufs[n++] = asio::buffer(pending_.data(), len);
      bufs[n++] = asio::buffer("\r\n", 2);
    }
    if (final_chunk) {
      bufs[n++] = asio::buffer("0\r\n\r\n", 5);
    }
  } else if (len > 0) {
    bufs[n++] = asio::buffer(pending_.data(), len);
  }
  if (n == 0) {
    OnClientWritten({}, 0);
    return;
  }
  DisarmTimer();
  ArmTimer(table_.timeouts.idle);
  client_write_pending_ = true;
  asio::async_write(*p_.client, std::span<const asio::const_buffer>(bufs.data(), n),
                    beast::bind_front_handler(&Exchange::OnClientWritten, shared_from_this()));
}

void Exchange::OnClientWritten(const error_code& ec, size_t /*n*/) {
  client_write_pending_ = false;
  if (head_pending_ && !p_.request.body().empty()) {
    // The answer has started and no attempt can follow: the client's request (headers, body)
    // and the upstream head are not needed any more, and a stream may last minutes (Claude
    // Code's bodies are often hundreds of KB). Freed after the head went out, not before it.
    p_.request = ClientRequest();
    std::string().swap(upstream_head_);
    std::string().swap(out_);  // the head just written
    std::string().swap(last_head_);
    std::string().swap(last_body_);
  }
  head_pending_ = false;
  if (finished_) {
    return;
  }
  if (ec) {
    // The client is gone: abandon the upstream request.
    if (conn_) {
      DiscardConnection();
    }
    cancelled_ = true;
    Finish(false);
    return;
  }
  if (writing_ > 0) {
    pending_.erase(0, writing_);
    writing_ = 0;
  }
  if (body_done_) {
    DisarmTimer();
    const bool reusable = conn_ && parser_->keep_alive();
    ReleaseConnection(reusable);
    Finish(p_.client_keep_alive);
    return;
  }
  ReadBody();
}

void Exchange::UpstreamDiedMidStream(const std::string& detail) {
  DisarmTimer();
  if (conn_) {
    DiscardConnection();
  }
  const auto& prov = table_.providers[current_.provider];
  CCR_LOG(kWarn, "upstream_died_mid_stream", common::F("request_id", p_.request_id),
          common::F("provider", prov.name), common::Q("reason", detail));
  LogEffects(picker_->OnMidStreamFailure(current_), status_);
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
  std::string event = http::AnthropicErrorEvent(
      "api_error", common::StrCat("upstream connection lost mid-stream: ", detail), p_.request_id);
  std::string out;
  if (!pending_.empty()) {
    common::StrAppend(&out, common::Hex(pending_.size()), "\r\n", pending_, "\r\n");
  }
  common::StrAppend(&out, common::Hex(event.size()), "\r\n", event, "\r\n0\r\n\r\n");
  pending_.clear();
  status_ = status_ == 0 ? 502 : status_;
  upstream_error_ = true;
  WriteAll(std::move(out), true, p_.client_keep_alive);
}

void Exchange::WriteRelayError(int status, std::string_view type, const std::string& message,
                               std::string_view extra_headers) {
  status_ = status;
  const std::string body = http::AnthropicErrorBody(type, message, p_.request_id);
  std::string out = common::StrCat(
      "HTTP/1.1 ", status, " ", bhttp::obsolete_reason(static_cast<bhttp::status>(status)),
      "\r\ncontent-type: application/json\r\ncontent-length: ", body.size(),
      "\r\nrequest-id: ", p_.request_id, "\r\nx-cc-relay-request-id: ", p_.request_id,
      "\r\nx-cc-relay-attempts: ", attempts_, "\r\n");
  if (status == 529 || status == 503 || status == 502 || status == 504) {
    out += "x-should-retry: true\r\n";
  }
  out += extra_headers;
  if (!p_.client_keep_alive) {
    out += "connection: close\r\n";
  }
  common::StrAppend(&out, "\r\n", body);
  WriteAll(std::move(out), true, p_.client_keep_alive);
}

void Exchange::WriteAll(std::string data, bool /*done_after*/, bool keep_alive) {
  out_ = std::move(data);
  DisarmTimer();
  ArmTimer(table_.timeouts.idle);
  client_write_pending_ = true;
  asio::async_write(*p_.client, asio::buffer(out_),
                    [self = shared_from_this(), keep_alive](const error_code& ec, size_t) {
                      self->client_write_pending_ = false;
                      if (self->finished_) {
                        return;
                      }
                      self->DisarmTimer();
                      self->Finish(!ec && keep_alive);
                    });
}

void Exchange::DiscardConnection() {
  if (conn_) {
    conn_->Close();
    discarded_.push_back(std::move(conn_));
  }
}

void Exchange::ReleaseConnection(bool reusable) {
  if (!conn_) {
    return;
  }
  if (reusable && conn_->buffer().size() == 0) {
    p_.worker->pool.Put(std::move(conn_));
  } else {
    DiscardConnection();
  }
}

void Exchange::Finish(bool keep_alive) {
  if (finished_) {
    return;
  }
  finished_ = true;
  DisarmTimer();
  backoff_timer_.cancel();
  if (conn_) {
    DiscardConnection();
  }
  http::Usage usage = sse_ ? observer_.usage() : http::UsageFromMessageBody(json_copy_);
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
  std::string provider = "-";
  std::string key = "-";
  double cost_usd = 0;
  if (attempts_ > 0) {
    const auto& prov = table_.providers[current_.provider];
    provider = prov.name;
    if (current_.key >= 0) {
      key = prov.keys[static_cast<size_t>(current_.key)].secret.Fingerprint();
    }
    cost_usd = prov.pricing.Cost(prov.MapModel(p_.info.model), usage);
  }
  const int64_t ttfb = have_first_byte_ ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                              first_byte_at_ - p_.start)
                                              .count()
                                        : -1;
  // Time to the first token: the first content event (streaming), else the head of a successful
  // answer (a non-streaming body carries every token at once).
  int64_t ttft = -1;
  if (have_first_token_) {
    ttft = std::chrono::duration_cast<std::chrono::milliseconds>(first_token_at_ - p_.start)
               .count();
  } else if (!sse_ && !p_.count_tokens && status_ >= 200 && status_ < 300) {
    ttft = ttfb;
  }
  CCR_LOG(kInfo, "request", common::F("request_id", p_.request_id),
          common::F("conn", p_.connection_id),
          common::F("endpoint", p_.count_tokens ? "count_tokens" : "messages"),
          common::F("provider", provider), common::F("key", key),
          common::Q("model", p_.info.model), common::F("stream", p_.info.stream),
          common::F("status", cancelled_ ? 499 : status_), common::F("attempts", attempts_),
          common::F("ttfb_ms", ttfb), common::F("ttft_ms", ttft),
          common::F("duration_ms", MsSince(p_.start)),
          common::F("input_tokens", usage.input_tokens),
          common::F("output_tokens", usage.output_tokens),
          common::F("cache_read_tokens", usage.cache_read_input_tokens),
          common::F("cache_creation_tokens", usage.cache_creation_input_tokens),
          common::F("upstream_error", upstream_error_), common::F("client_gone", cancelled_));
  if (auto* obs = p_.worker->observer) {
    if (stream_counted_) {
      obs->OnStreamEnded();
    }
    stats::RequestRecord rec;
    rec.request_id = p_.request_id;
    rec.provider = provider == "-" ? std::string() : provider;
    rec.key_fingerprint = key == "-" ? std::string() : key;
    rec.model = p_.info.model;
    rec.status = cancelled_ ? 499 : status_;
    rec.attempts = attempts_;
    rec.ttfb_ms = ttfb;
    rec.ttft_ms = ttft;
    rec.cost_usd = cost_usd;
    rec.duration_ms = MsSince(p_.start);
    rec.usage = usage;
    rec.stream = p_.info.stream;
    rec.count_tokens = p_.count_tokens;
    rec.client_gone = cancelled_;
    rec.upstream_error = upstream_error_;
    obs->OnRequestDone(rec);
  }
  auto owner = std::move(p_.owner);
  if (owner) {
    owner->OnExchangeDone(keep_alive && !cancelled_);
  }
}

void Exchange::ArmTimer(std::chrono::milliseconds d) {
  const uint64_t gen = ++timer_gen_;
  timer_.expires_after(d);
  timer_.async_wait([self = shared_from_this(), gen](const error_code& ec) {
    if (ec || gen != self->timer_gen_ || self->finished_) {
      return;
    }
    self->timed_out_ = true;
    if (self->client_write_pending_) {
      // The client stopped reading for longer than the idle timeout.
      error_code ignored;
      self->p_.client->close(ignored);
    } else if (self->conn_) {
      self->conn_->Close();
    }
  });
}

void Exchange::DisarmTimer() {
  ++timer_gen_;
  timer_.cancel();
}

}  // namespace ccrelay::proxy
