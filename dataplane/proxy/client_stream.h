#pragma once

#include <cstdint>
#include <string_view>

namespace ccrelay::proxy {

// How the body of a response to the client is framed.
enum class Framing : uint8_t {
  kContentLength,   // the session adds Content-Length: content_length
  kChunked,         // the session adds Transfer-Encoding: chunked and frames each write
  kInHeaderLines,   // header_lines carry the upstream's own Content-Length
};

// The head of a response to the client. The session formats it (status line, these header
// lines, framing, Connection) in one place.
struct ResponseHead {
  int status = 200;
  std::string_view reason;        // the upstream's reason phrase; "" for the standard one
  std::string_view header_lines;  // "name: value\r\n" lines, Connection excluded
  Framing framing = Framing::kContentLength;
  uint64_t content_length = 0;  // kContentLength
};

// The client side of an exchange, implemented by the session that owns the client socket: it
// alone writes to the socket. One write at a time: after each Send*, the bytes passed must stay
// valid and nothing more is sent until the exchange's OnClientWritten (that is the bound of the
// write queue, and the backpressure that paces the upstream reads). The session holds its
// exchange; the exchange holds the session only by this interface, which is valid until the
// exchange calls ExchangeDone or is cancelled by the session.
class ClientStream {
 public:
  virtual ~ClientStream() = default;
  // The response head, with the first body bytes if any (chunk-framed when head.chunked); `end`:
  // the body is complete.
  virtual void SendHead(const ResponseHead& head, std::string_view body, bool end) = 0;
  // More body bytes (chunk-framed when the head said chunked; empty with `end` closes the body).
  virtual void SendData(std::string_view body, bool end) = 0;
  // Raw bytes that complete a chunked body the exchange framed itself (an error event and the
  // last chunk after an upstream failure mid-stream).
  virtual void SendRaw(std::string_view bytes) = 0;
  // The exchange is over, its last write done (or abandoned). `keep_alive`: the connection may
  // serve another request. Called once; the session may drop the exchange inside it.
  virtual void ExchangeDone(bool keep_alive) = 0;
};

// What the session tells its exchange.
class ClientStreamCallbacks {
 public:
  virtual ~ClientStreamCallbacks() = default;
  // The last Send* is written; the exchange may send more.
  virtual void OnClientWritten() = 0;
  // The client went away or stopped reading: abandon the upstream request at once. No
  // ExchangeDone follows; the stream must not be used again.
  virtual void OnClientGone() = 0;
};

}  // namespace ccrelay::proxy
