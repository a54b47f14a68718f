#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "dataplane/providers/provider.h"
#include "dataplane/upstream/upstream_url.h"
#include "dataplane/upstream/tls_context.h"

namespace ccrelay::controlplane {

// One active health check request: GET `target` on the upstream of `url`.
struct ProbeRequest {
  upstream::UpstreamUrl url;
  upstream::TlsContextSharedPtr tls;  // set iff url.tls
  std::string target;                 // path and query, the base URL's path prefix included
  std::vector<providers::HeaderField> headers;  // authentication and the like
  std::chrono::milliseconds timeout{5000};      // the whole probe: resolve to last byte
};

// What came back. `status` 0: no HTTP answer (then `error` says why).
struct ProbeResult {
  int status = 0;
  std::string error;       // "connect: Connection refused", "timeout", "tls handshake: ..."
  std::string error_type;  // error.type of an Anthropic-shaped error body ("" if none)
};

// Runs one probe on `ioc` (resolve, connect, TLS with SNI and host name verification, one GET on
// a fresh connection, read the answer, close) and calls `done` on `ioc`'s thread exactly once.
// The body is read up to 64 KiB (only the status and an error type are wanted).
void StartProbe(boost::asio::io_context& ioc, ProbeRequest request,
                std::function<void(ProbeResult)> done);

}  // namespace ccrelay::controlplane
