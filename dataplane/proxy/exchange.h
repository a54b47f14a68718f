#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "dataplane/auth/authenticator.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/http/sse_observer.h"
#include "dataplane/routing/candidate_picker.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/stats/request_observer.h"
#include "dataplane/upstream/connection_pool.h"

namespace ccrelay::proxy {

// What a worker lends to every exchange it runs: its pool and resolver (worker thread only).
struct WorkerContext {
  explicit WorkerContext(boost::asio::io_context& io) : ioc(io), pool(io), resolver(io) {}
  boost::asio::io_context& ioc;
  upstream::ConnectionPool pool;
  boost::asio::ip::tcp::resolver resolver;
  stats::RequestObserver* observer = nullptr;  // outlives the worker; may be null
};

// Implemented by the downstream session that owns the client socket.
class ExchangeOwner {
 public:
  virtual ~ExchangeOwner() = default;
  // Called exactly once, on the session's executor, when the response is complete (keep_alive:
  // the client connection may serve another request) or abandoned.
  virtual void OnExchangeDone(bool keep_alive) = 0;
};

using ClientRequest = boost::beast::http::request<boost::beast::http::string_body>;

// One proxied request (/v1/messages or count_tokens): pick candidates, try them in order until
// one answers with something other than a retryable failure, then stream the answer back.
// Nothing is retried once a byte has gone to the client. Runs entirely on the session's
// executor (one worker thread), so it needs no lock.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  struct Params {
    WorkerContext* worker = nullptr;
    boost::asio::ip::tcp::socket* client = nullptr;
    routing::RoutingTableConstSharedPtr table;
    ClientRequest request;
    http::RequestInfo info;
    std::string request_id;
    std::string connection_id;
    auth::AuthResult auth;
    bool count_tokens = false;
    bool client_keep_alive = true;
    std::chrono::steady_clock::time_point start;
    std::shared_ptr<ExchangeOwner> owner;
  };

  explicit Exchange(Params&& params);
  void Start();
  // The client went away: abandon the upstream request at once.
  void Cancel();

 private:
  enum class Failure { kNone, kConnect, kTimeout, kStatus, kReset };

  using Candidate = routing::Candidate;
  using After = routing::CandidatePicker::After;

  // Whether another attempt may start (max_attempts, total deadline).
  bool CanRetry() const;
  // Moves to the next candidate (the one already picked after a failed answer, else a new pick
  // given what failed), waiting out its backoff first.
  void NextAttempt(After after);
  void StartAttempt();
  // The first pick found nothing: 429 with retry-after when every key is rate limited, else 503.
  void AnswerNoCandidate();
  // Logs what an upstream answer or failure did to the key pool.
  void LogEffects(const routing::ResponseEffects& effects, int status);
  void Connect();
  void OnResolved(const boost::system::error_code& ec,
                  boost::asio::ip::tcp::resolver::results_type results);
  void OnConnected(const boost::system::error_code& ec);
  void OnHandshake(const boost::system::error_code& ec);
  void BuildUpstreamRequest();
  void SendRequest();
  void OnRequestWritten(const boost::system::error_code& ec, size_t n);
  void OnResponseHeader(const boost::system::error_code& ec, size_t n);
  void ReadRetryBody();
  void ReadUpstreamBody(void (Exchange::*handler)(const boost::system::error_code&, size_t));
  size_t BodyBytesRead(boost::system::error_code* ec) const;
  void OnRetryBody(const boost::system::error_code& ec, size_t n);
  void AttemptFailed(Failure failure, const std::string& detail);
  void StartResponse();
  void ReadBody();
  void PullBufferedBody();
  void ConsumeBody(size_t got);
  void OnBodyRead(const boost::system::error_code& ec, size_t n);
  void ForwardBytes(bool final_chunk);
  void OnClientWritten(const boost::system::error_code& ec, size_t n);
  void UpstreamDiedMidStream(const std::string& detail);
  void FinishWithFailure();
  void WriteRelayError(int status, std::string_view type, const std::string& message,
                       std::string_view extra_headers = {});
  void WriteAll(std::string data, bool done_after, bool keep_alive);
  void Finish(bool keep_alive);
  void ArmTimer(std::chrono::milliseconds d);
  void DisarmTimer();
  void ReleaseConnection(bool reusable);
  // Closes conn_ and keeps the object until this exchange goes: an operation still pending on
  // it (a read the close aborts) uses its buffer until its handler has run, and every handler
  // holds this exchange.
  void DiscardConnection();
  void EnsureReadBuffer();
  bool IsSse() const { return sse_; }

  Params p_;
  const routing::RoutingTable& table_;
  boost::asio::steady_timer timer_;
  uint64_t timer_gen_ = 0;
  bool timed_out_ = false;
  bool cancelled_ = false;
  bool finished_ = false;
  bool response_started_ = false;

  // Candidate iteration (key pools: routing/candidate_picker.h).
  std::vector<uint32_t> ranked_;
  std::optional<routing::CandidatePicker> picker_;
  Candidate current_;
  // Where the current candidate is: picked (reserved, not sent yet), sent, or its outcome
  // reported to the picker.
  enum class AttemptState { kNone, kPicked, kSent, kSettled };
  AttemptState attempt_state_ = AttemptState::kNone;
  Candidate next_;  // picked after a retryable answer, used once its body is read
  bool have_next_ = false;
  boost::asio::steady_timer backoff_timer_;  // jittered wait before revisiting after a 529
  uint32_t attempts_ = 0;
  bool stale_retry_done_ = false;
  std::chrono::steady_clock::time_point deadline_;

  // The current upstream attempt.
  upstream::UpstreamConnectionPtr conn_;
  std::vector<upstream::UpstreamConnectionPtr> discarded_;  // closed; see DiscardConnection
  std::string upstream_head_;
  std::string mapped_model_json_;
  bool splice_model_ = false;
  std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> parser_;
  std::chrono::steady_clock::time_point attempt_start_;

  // The last failed attempt, returned verbatim when every candidate failed.
  Failure last_failure_ = Failure::kNone;
  std::string last_detail_;
  int last_status_ = 0;
  std::string last_head_;  // status line + filtered headers (with our headers), no body framing
  std::string last_body_;

  // Streaming back.
  bool sse_ = false;
  bool chunked_ = false;
  // Upstream body read buffer, allocated without zeroing when the first body bytes come
  // (2 KiB; 16 KiB for a fast answer, or on a pooled connection that served one).
  struct ReadBuffer {
    std::unique_ptr<char[]> bytes;
    size_t length = 0;
    void Allocate(size_t n) {
      bytes = std::make_unique_for_overwrite<char[]>(n);
      length = n;
    }
    char* data() { return bytes.get(); }
    const char* data() const { return bytes.get(); }
    size_t size() const { return length; }
  };
  ReadBuffer buf_;
  // Buffer sequences of the writes in flight: Asio keeps only the span, so the array must
  // outlive the operation.
  std::array<boost::asio::const_buffer, 4> request_bufs_;
  std::array<boost::asio::const_buffer, 5> write_bufs_;
  std::string pending_;      // SSE bytes not yet forwarded (partial event) or bytes to write
  std::string chunk_head_;
  size_t writing_ = 0;       // bytes of pending_ in the write in flight
  std::string out_;          // other writes (head, errors)
  http::SseObserver observer_;
  std::string json_copy_;    // non-streaming body copy for usage (capped)
  bool body_done_ = false;
  int status_ = 0;
  std::chrono::steady_clock::time_point first_byte_at_;
  bool have_first_byte_ = false;
  std::chrono::steady_clock::time_point first_token_at_;  // first content event forwarded (SSE)
  bool have_first_token_ = false;
  bool pooled_reuse_ = false;
  bool upstream_error_ = false;
  bool client_write_pending_ = false;
  bool stream_counted_ = false;
  bool head_pending_ = false;
};

}  // namespace ccrelay::proxy
