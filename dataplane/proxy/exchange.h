#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>

#include "dataplane/auth/authenticator.h"
#include "dataplane/http/body_buffer.h"
#include "dataplane/http/request_fields.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/http/sse_observer.h"
#include "dataplane/providers/provider.h"
#include "dataplane/proxy/client_stream.h"
#include "dataplane/proxy/request_record.h"
#include "dataplane/state/key_state.h"
#include "dataplane/proxy/retry_policy.h"
#include "dataplane/routing/candidate_picker.h"
#include "dataplane/routing/router.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/stats/request_observer.h"
#include "dataplane/state/user_state.h"
#include "dataplane/upstream/connection_pool.h"
#include "dataplane/upstream/upstream_request.h"

namespace ccrelay::team {
class UsageJournal;
}

namespace ccrelay::proxy {

// Makes the upstream request of one exchange (reused by its attempts).
using UpstreamRequestFactory =
    std::function<upstream::UpstreamRequestSharedPtr(upstream::UpstreamCallbacks& callbacks)>;

// What a worker lends to every exchange it runs (worker thread only).
struct WorkerContext {
  explicit WorkerContext(boost::asio::io_context& io);
  boost::asio::io_context& ioc;
  upstream::ConnectionPool pool;
  boost::asio::ip::tcp::resolver resolver;
  http::BodyBufferPool body_pool;
  http::StringPool rewrite_pool;  // adapters' rewritten request bodies
  // Upstream request heads, the answers' header lines and copies of small JSON answers (a few
  // KB each, per request).
  http::StringPool head_pool{512, 64 * 1024};
  stats::RequestObserver* observer = nullptr;  // outlives the worker; may be null
  team::UsageJournal* usage = nullptr;          // usage records (outlives the worker; may be null)
  // HttpUpstreamRequest on this worker's pool and resolver; tests put a fake here.
  UpstreamRequestFactory upstream_factory;
};

// The client's request: its fields in the session's FieldArena, its body from the body pool.
using ClientRequest = boost::beast::http::request<http::BufferBody, http::RequestFields>;

// One proxied request (/v1/messages or count_tokens), Envoy's router filter: rank the providers,
// let the picker choose each attempt's (provider, key), let the provider's adapter shape the
// request, send it through an UpstreamRequest, let the adapter classify the answer and the
// RetryPolicy decide whether to try again, then stream the answer to the client through the
// session (ClientStream). Nothing is retried once a byte has gone to the client. Runs entirely
// on its worker's thread, so it needs no lock. Held by its session (and by its pending timer);
// it holds the session only through the ClientStream interface.
class Exchange : public ClientStreamCallbacks,
                 public upstream::UpstreamCallbacks,
                 public std::enable_shared_from_this<Exchange> {
 public:
  struct Params {
    WorkerContext* worker = nullptr;
    ClientStream* client = nullptr;
    routing::RoutingTableConstSharedPtr table;
    ClientRequest request;
    http::RequestInfo info;
    std::string request_id;
    std::string connection_id;
    auth::AuthResult auth;
    // The relay key's user (points into `table`; null: anonymous).
    const routing::CompiledUser* user = nullptr;
    bool count_tokens = false;
    bool client_keep_alive = true;
    std::chrono::steady_clock::time_point start;
  };

  explicit Exchange(Params&& params);
  ~Exchange() override;
  void Start();

  // The usage of a request that ended before an exchange (refused at the session): the journal
  // counts it as any other request.
  static void RecordRefusedUsage(team::UsageJournal* journal, const routing::CompiledUser* user,
                                 int status, int64_t duration_ms);

  // ClientStreamCallbacks
  void OnClientWritten() override;
  void OnClientGone() override;

  // upstream::UpstreamCallbacks
  void OnUpstreamHead(const upstream::UpstreamResponseHead& head) override;
  void OnUpstreamData(std::string_view bytes, bool end) override;
  void OnUpstreamFailure(const upstream::UpstreamFailure& failure) override;

 private:
  using Candidate = routing::Candidate;
  using After = routing::CandidatePicker::After;

  const routing::ProviderEntry& provider() const { return table_.providers[current_.provider]; }
  std::string_view KeyFingerprint() const;
  // Moves to the next candidate (the one already picked after a retryable answer, else a new
  // pick given what failed), waiting out its backoff first.
  void NextAttempt(After after);
  void StartAttempt();
  // Logs (debug) and counts the betas the adapter did not send for this attempt.
  void ReportDroppedBetas();
  void SendAttempt(bool fresh_connection);
  // The first pick found nothing: 429 with retry-after when every key is rate limited, else 503.
  void AnswerNoCandidate();
  // The user's policy and budget before routing (allowed_models, budget, rpm/tpm): false when
  // the request was refused (the answer is on its way).
  bool AdmitUser(int64_t input_tokens);
  void RefuseUser(std::string_view reason, int status, std::string_view type,
                  std::string_view message, std::string_view extra_headers = {});
  // The finished request's usage record (journal) and the user's tpm correction.
  void AccountUser(const http::Usage& usage, double cost_usd, int status, int64_t duration_ms);
  // Logs what an upstream answer or failure did to the key pool.
  void LogEffects(const routing::ResponseEffects& effects, int status);
  // An attempt ended without a usable answer (transport failure, or a retried answer whose body
  // has been read): counted, logged, and the next candidate tried.
  void AttemptFailed(After after, std::string_view reason_kind, int status,
                     std::string_view detail);
  // Counts a failed attempt (metrics, the key's failures, the log line) without moving on.
  void CountFailedAttempt(std::string_view reason_kind, int status, std::string_view detail);
  void RetriedAnswerRead();
  // Every attempt failed: the last answer verbatim, or 504 / 502.
  void FinishWithFailure();
  // The answer is the client's: its head (with what body arrived with it) goes out.
  void StartResponse(const upstream::UpstreamResponseHead& head);
  // Upstream body bytes into what goes to the client (decoded when the adapter said so).
  bool Consume(std::string_view bytes, bool end);
  // Sends what may go to the client now, else reads on.
  void ForwardBytes(bool final_chunk);
  void UpstreamDiedMidStream(std::string_view detail);
  void WriteRelayError(int status, std::string_view type, std::string_view message,
                       std::string_view extra_headers = {});
  // The client's request is not needed any more: its body goes back to the worker's pool.
  void FreeRequest();
  void Finish(bool keep_alive);
  // Appends an answer's headers that may reach the client, and the relay's own, to `out`.
  void AppendAnswerHeaders(const upstream::UpstreamResponseHead& head, bool drop_length,
                           bool drop_content_type, std::string* out) const;

  Params p_;
  const routing::RoutingTable& table_;
  ClientStream* client_;  // null once the exchange is done or the client is gone
  upstream::UpstreamRequestSharedPtr upstream_;
  RetryPolicy retry_;
  RequestTimes times_;
  boost::asio::steady_timer backoff_timer_;  // jittered wait before revisiting after a 529

  bool cancelled_ = false;
  bool finished_ = false;
  bool response_started_ = false;

  class RuleHeaders;

  // Candidate iteration (key pools: routing/candidate_picker.h).
  routing::RouteDecision route_;  // the routed model (a rule's override), rule, strategy
  std::vector<uint32_t> ranked_;
  std::optional<routing::CandidatePicker> picker_;
  Candidate current_;
  state::InFlight in_flight_;  // the current attempt in its provider's in_flight
  std::chrono::steady_clock::time_point attempt_sent_;  // the current attempt was written
  // Where the current candidate is: picked (reserved, not sent yet), sent, or its outcome
  // reported to the picker.
  enum class AttemptState { kNone, kPicked, kSent, kSettled };
  AttemptState attempt_state_ = AttemptState::kNone;
  Candidate next_;  // picked after a retryable answer, used once its body is read
  bool have_next_ = false;
  bool reading_retried_body_ = false;
  providers::AnswerClass retried_answer_ = providers::AnswerClass::kClientError;

  // The current attempt's request (refilled by the adapter each attempt; capacity kept).
  providers::UpstreamRequestPlan plan_;
  std::array<boost::asio::const_buffer, 8> request_bufs_;
  size_t request_buf_count_ = 0;

  // Streaming back.
  int status_ = 0;
  std::string reason_;  // the upstream's reason phrase
  bool sse_ = false;
  bool chunked_ = false;
  providers::ResponseDecoderPtr decoder_;
  providers::ResponseDecoderPtr retry_decoder_;  // for the body of an answer being retried
  std::string head_lines_;  // the client's response head lines (until written)
  bool head_pending_ = false;
  bool body_done_ = false;
  std::string pending_;      // SSE bytes not yet forwarded (a partial event), or decoded bytes
  std::string_view direct_;  // upstream bytes forwarded as they are (not SSE, not decoded)
  size_t writing_ = 0;       // bytes of pending_ in the write in flight
  std::string error_out_;    // a relay error's body or a mid-stream error's last chunks
  std::string decode_error_;  // a decoder failed on the bytes that came with the head
  http::SseObserver observer_;
  std::string json_copy_;  // non-streaming body copy for usage (capped)
  bool upstream_error_ = false;
  bool stream_counted_ = false;
  bool request_freed_ = false;

  // Teams: the budget grant the request was admitted under (its warning goes out in the head),
  // and the tokens taken from the user's tpm bucket (corrected at the end).
  std::shared_ptr<const state::BudgetGrantState> grant_;
  int64_t user_tokens_taken_ = 0;
  bool user_metered_ = false;
};

}  // namespace ccrelay::proxy
