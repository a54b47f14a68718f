#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/fields.hpp>

#include "dataplane/upstream/tls_context.h"

namespace ccrelay::upstream {

// Why an upstream request got no (complete) answer.
enum class FailureKind : uint8_t {
  kConnect,  // resolve, connect or TLS handshake failed
  kTimeout,  // a step's timer ran out (connect, first byte, idle between body reads)
  kReset,    // the connection broke while writing the request or reading the answer
};

struct UpstreamFailure {
  FailureKind kind = FailureKind::kConnect;
  std::string detail;  // "connect: Connection refused", "tls handshake: ...", "write: ..."
  // The request went out on a kept-alive pooled connection and nothing came back: most likely
  // the upstream had closed it while it sat in the pool (the retry policy reconnects once).
  bool stale_pooled_connection = false;
};

// The head of an upstream answer, valid during OnUpstreamHead only.
struct UpstreamResponseHead {
  int status = 0;
  std::string_view reason;
  const boost::beast::http::fields& fields;
  bool has_content_length = false;
};

// Receives what an UpstreamRequest reads. Calls come on the request's executor, one at a time.
class UpstreamCallbacks {
 public:
  virtual ~UpstreamCallbacks() = default;
  // The response head arrived. The body follows only when asked for (ReadBody).
  virtual void OnUpstreamHead(const UpstreamResponseHead& head) = 0;
  // Body bytes (valid until the next call on the request; may be empty when `end`). `end`: the
  // body is complete; the connection has gone back to the pool if it may be reused.
  virtual void OnUpstreamData(std::string_view bytes, bool end) = 0;
  // No answer, or the body was cut short. Nothing follows.
  virtual void OnUpstreamFailure(const UpstreamFailure& failure) = 0;
};

// Where to connect. The strings are borrowed and must outlive the request's use of them (the
// routing table, or the health probe's own copy).
struct UpstreamEndpoint {
  std::string_view host;  // name or address, without brackets for IPv6
  std::string_view port;  // numeric
  bool tls = false;
  TlsContextSharedPtr tls_context;  // set iff tls
  std::string_view pool_key;  // scheme, host, port, CA: which pooled connections fit
};

// The timer of each step (Envoy's per-try timeouts).
struct StepTimeouts {
  std::chrono::milliseconds connect{5000};     // resolve + connect + TLS handshake
  std::chrono::milliseconds first_byte{60000};  // request written to response head read
  std::chrono::milliseconds idle{300000};       // between body reads
};

// One HTTP/1.1 request to an upstream and its answer: resolve, connect, TLS with SNI and a host
// name check, write, read the head, then the body piece by piece as the caller asks (flow
// control: one read at a time), each step under its own timer. Used by the exchange for every
// attempt and by the control plane's health probes. An interface so that the exchange can be
// tested against a scripted fake.
class UpstreamRequest {
 public:
  virtual ~UpstreamRequest() = default;

  // Sends `request` (head and body buffers, valid until OnUpstreamHead or OnUpstreamFailure) to
  // `endpoint`: on a pooled connection that still looks usable unless `fresh_connection`, else
  // on a new one. Exactly one of OnUpstreamHead / OnUpstreamFailure follows. May be called
  // again after the previous request's answer is complete or failed (the next attempt).
  virtual void Send(const UpstreamEndpoint& endpoint, const StepTimeouts& timeouts,
                    std::span<const boost::asio::const_buffer> request, bool fresh_connection) = 0;
  // After OnUpstreamHead: the body bytes that arrived with the head, taken without waiting (so
  // that the head and the first bytes can go on in one write). Valid until the next call;
  // `end` tells whether the body is complete.
  virtual std::string_view TakeBuffered(bool* end) = 0;
  // After OnUpstreamHead or a non-final OnUpstreamData: reads more of the body. Exactly one of
  // OnUpstreamData / OnUpstreamFailure follows.
  virtual void ReadBody() = 0;
  // Abandons the request: closes the connection (never pooled); no callback follows.
  virtual void Cancel() = 0;
};

using UpstreamRequestSharedPtr = std::shared_ptr<UpstreamRequest>;

}  // namespace ccrelay::upstream
