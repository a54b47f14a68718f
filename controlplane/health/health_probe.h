#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "dataplane/providers/provider.h"
#include "dataplane/upstream/upstream_url.h"
#include "dataplane/upstream/tls_context.h"

namespace ccrelay::controlplane {

// One active health check request: the adapter's BuildHealthCheck on the upstream of `url` with
// `key` or `aws` (none: the type's keyless check), built when the probe starts (a signature
// carries the time).
struct ProbeRequest {
  upstream::UpstreamUrl url;
  upstream::TlsContextSharedPtr tls;  // set iff url.tls
  const providers::Provider* adapter = nullptr;
  std::string key;  // a key the upstream verifies ("" = none)
  struct Aws {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;
  };
  std::optional<Aws> aws;  // SigV4 credentials instead of `key`
  std::string region;      // the provider's aws_region (Bedrock) or gcp_region (Vertex)
  std::string project;     // the provider's gcp_project_id (Vertex)
  bool oauth_token = false;  // `key` is a minted OAuth token (Authorization: Bearer)
  std::string model;       // a model the provider serves ("" = the type's default)
  std::chrono::milliseconds timeout{5000};  // the whole probe: resolve to last byte
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
