#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/fakes/sync.h"

namespace ccrelay::testing {

// Header list in wire order (names as sent; lookups are case-insensitive).
using Headers = std::vector<std::pair<std::string, std::string>>;

// First value of a header (case-insensitive name), nullopt if absent.
std::optional<std::string> FindHeader(const Headers& headers, std::string_view name);
// Number of occurrences of a header name (case-insensitive).
size_t CountHeader(const Headers& headers, std::string_view name);

// One request as the fake upstream received it.
struct RecordedRequest {
  std::string method{};
  std::string target{};  // path and query as sent
  Headers headers{};     // in order, as sent
  std::string body{};    // exact bytes (chunked request bodies de-chunked)
  int connection_id = 0;
  int index = 0;  // position in FakeUpstream::requests()

  std::optional<std::string> Header(std::string_view name) const {
    return FindHeader(headers, name);
  }
  bool HasHeader(std::string_view name) const { return CountHeader(headers, name) > 0; }
};

// What happened to the response to one request.
struct ExchangeOutcome {
  bool script_finished = false;    // the handler returned (whatever it did)
  bool response_complete = false;  // a full response (head + whole body) was written
  bool peer_closed_early = false;  // the relay closed the connection before the script ended
};

// Lets a script write one response, piece by piece. All calls block the connection's own thread
// (every connection is served on its own thread, so a slow script never holds up the others).
// Write methods return false once the peer has gone away.
class Responder {
 public:
  virtual ~Responder() = default;

  // Status line and headers. With content_length set, `content-length` is added; otherwise the
  // body is sent chunked (`transfer-encoding: chunked`). Headers are written as given.
  virtual bool SendHead(int status, const Headers& headers,
                        std::optional<size_t> content_length) = 0;
  // A body piece: one HTTP chunk in chunked mode, raw bytes otherwise.
  virtual bool SendBody(std::string_view data) = 0;
  // Ends the response (the terminating chunk in chunked mode). Keeps the connection alive.
  virtual bool Finish() = 0;
  // Complete response with content-length.
  virtual bool Respond(int status, const Headers& headers, std::string_view body) = 0;
  // Raw bytes on the socket, no framing.
  virtual bool SendRaw(std::string_view bytes) = 0;

  // Waits `delay`; returns false early if the peer closes the connection meanwhile.
  virtual bool Delay(std::chrono::milliseconds delay) = 0;
  // Waits until `gate` is notified (true) or the peer closes / timeout passes (false).
  virtual bool WaitFor(const Notification& gate, std::chrono::milliseconds timeout) = 0;
  // Waits until the peer closes the connection (true) or the timeout passes (false).
  virtual bool WaitForPeerClose(std::chrono::milliseconds timeout) = 0;
  virtual bool peer_closed() const = 0;

  // Mid-stream death: resets the TCP connection (RST, SO_LINGER 0) without ending the response.
  virtual void CloseAbruptly() = 0;
  // Closes the connection with a FIN (no more requests on it).
  virtual void Close() = 0;
};

using Handler = std::function<void(const RecordedRequest&, Responder&)>;

// A scriptable HTTP/1.1 upstream on 127.0.0.1:<ephemeral>, plain or TLS. An io_context thread
// accepts; each accepted connection is served on its own thread (keep-alive supported), where the
// request is read, recorded, and handed to a script. Scripts come from a FIFO queue
// (EnqueueHandler), else the default handler (SetHandler; by default a 200 Anthropic message).
class FakeUpstream {
 public:
  struct Options {
    bool tls = false;
    std::string cert_file;  // PEM, TLS only
    std::string key_file;   // PEM, TLS only
  };

  FakeUpstream();
  explicit FakeUpstream(const Options& options);
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT" (plain) or "https://localhost:PORT" (TLS).
  std::string base_url() const;

  void SetHandler(Handler handler);
  void EnqueueHandler(Handler handler);
  // Accepted connections are closed at once, without reading (connection reset by peer).
  void SetDropConnections(bool drop);
  // Closes the listening socket: later connects are refused. Existing connections go on.
  void StopListening();
  // Closes the listener and every connection, joins all threads. Idempotent; run by ~FakeUpstream.
  void Stop();

  // Snapshots (thread-safe).
  std::vector<RecordedRequest> requests() const;
  size_t request_count() const;
  std::vector<ExchangeOutcome> outcomes() const;
  int connections_accepted() const;
  int connections_closed_by_peer() const;  // connections that ended by the peer closing

  // Waits until pred() holds: re-evaluated (without the fake's lock held, so it may call the
  // accessors above) each time the fake's state changes; a condition variable, no sleeping.
  // Returns pred()'s last value.
  bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) const;
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;
  // Until the script answering request `index` has returned.
  bool WaitForOutcome(size_t index, std::chrono::milliseconds timeout) const;

  // Internal, called by sessions.
  int RecordRequest(RecordedRequest request);
  void RecordOutcome(int index, ExchangeOutcome outcome);
  void RecordConnectionEnd(bool closed_by_peer);
  Handler NextHandler();
  bool drop_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Handler default_handler_;
  std::deque<Handler> queue_;
  std::vector<RecordedRequest> requests_;
  std::vector<ExchangeOutcome> outcomes_;
  int connections_accepted_ = 0;
  int connections_closed_by_peer_ = 0;
  uint64_t version_ = 0;  // bumped on every change, for WaitFor
  bool drop_connections_ = false;
  bool tls_ = false;

  friend struct Impl;
};

// A TCP port on 127.0.0.1 with nothing listening (bound to port 0, then closed): connecting to it
// is refused.
uint16_t UnusedPort();

// ---- Canned Anthropic answers -------------------------------------------------------------

// Headers every canned answer carries: request-id and anthropic-ratelimit-* examples.
Headers AnthropicResponseHeaders(std::string_view request_id);

// A non-streaming Message object.
std::string AnthropicMessageJson(std::string_view model, std::string_view text,
                                 std::string_view id = "msg_fake_1");
// {"type":"error","error":{"type":...,"message":...},"request_id":...}
std::string AnthropicErrorJson(std::string_view type, std::string_view message,
                               std::string_view request_id = "req_fake_err");

struct SseOptions {
  std::string model = "claude-test-1";
  int text_deltas = 3;                 // number of content_block_delta text deltas
  bool thinking = true;                // a thinking block (thinking_delta + signature_delta) first
  std::chrono::milliseconds delay{0};  // between events
  int input_tokens = 25;
  int output_tokens = 15;
};
// Every event of a complete Anthropic stream, each "event: X\ndata: {...}\n\n".
std::vector<std::string> AnthropicSseEvents(const SseOptions& options);

// ---- Ready-made scripts -----------------------------------------------------------------

// 200 application/json with AnthropicMessageJson and AnthropicResponseHeaders.
Handler MessageScript(std::string_view model = "claude-test-1", std::string_view text = "Hello");
// Any status with a JSON body (content-length) plus extra headers.
Handler JsonScript(int status, std::string body, Headers extra_headers = {});
// 429 rate_limit_error with retry-after.
Handler RateLimitedScript(int retry_after_seconds = 1);
// 529 overloaded_error.
Handler OverloadedScript();
// 500 api_error.
Handler InternalErrorScript();
// Resets the connection without answering.
Handler ResetScript();

// A 200 text/event-stream, chunked, one chunk per event.
struct StreamScriptOptions {
  std::vector<std::string> events{};   // default: AnthropicSseEvents({})
  std::chrono::milliseconds delay{0};  // before each event after the first
  // If set, the script waits for `gate` (up to gate_timeout) after sending `gate_after` events.
  std::shared_ptr<const Notification> gate{};
  size_t gate_after = 1;
  std::chrono::milliseconds gate_timeout{5000};
  // If set, the gate wait's result is stored here (true: released by the test).
  std::shared_ptr<std::atomic<bool>> gate_released{};
  // If set, the connection dies after this many events (mid-stream death; after the gate when
  // gate_after == die_after): reset (RST), or closed with a FIN if die_with_fin.
  std::optional<size_t> die_after{};
  bool die_with_fin = false;
  // If true, after the events (or at the gate) wait for the peer to close instead of finishing.
  bool hold_open_until_peer_close = false;
  std::chrono::milliseconds hold_timeout{5000};
};
Handler StreamScript(StreamScriptOptions options);

}  // namespace ccrelay::testing
