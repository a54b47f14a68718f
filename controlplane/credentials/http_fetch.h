#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace ccrelay::controlplane::aws {

// The timers of one fetch. Real time (network waits), not the injected Clock.
struct HttpTimeouts {
  std::chrono::milliseconds connect{1000};   // resolve + connect + TLS handshake, together
  std::chrono::milliseconds response{5000};  // request written to the whole answer read
};

struct HttpFetchRequest {
  std::string method = "GET";  // GET | PUT | POST
  std::string url;             // http[s]://host[:port][/path][?query]
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  HttpTimeouts timeouts;
  size_t max_body_bytes = 256 * 1024;
  std::string ca_file;  // https: a PEM bundle trusted on top of the system store ("" = none)
};

struct HttpFetchResponse {
  int status = 0;
  // The answer's header fields in order, names as sent (repeats kept).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The value of the first header field called `name` (ASCII case ignored); nullptr if none.
  const std::string* Header(std::string_view name) const;
};

// One blocking HTTP/1.1 request on a fresh connection (closed afterwards) with its own
// io_context, for the control plane's credential threads; never on a data plane thread.
// https verifies the peer against the system CA store with SNI and a host-name check.
//
// Any HTTP answer, whatever its status, is a response. Errors: kInvalidArgument for a bad URL or
// method; kUnavailable when no connection could be made (resolve, connect, TLS handshake,
// including their timeout); kDeadlineExceeded when the answer did not come in time;
// kDataLoss for a broken or oversized answer. Messages name the URL (no query) and the step,
// never a header value or the body.
//
// A host name's resolution (getaddrinfo) cannot be interrupted: the connect timeout ends the
// wait for it, but the call returns only when the resolver does.
absl::StatusOr<HttpFetchResponse> HttpFetch(const HttpFetchRequest& request);

// "http://host:port/path" of a URL without its query (for messages).
std::string UrlForMessages(const std::string& url);

// application/x-www-form-urlencoded / query component encoding (RFC 3986 unreserved kept).
std::string FormEncode(std::string_view value);

}  // namespace ccrelay::controlplane::aws
