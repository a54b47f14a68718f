#pragma once

#include <string>

#include "absl/status/statusor.h"

#include "dataplane/subscription/snapshot_subscription.h"

namespace ccrelay::subscription {

struct ControlPlaneChannelOptions {
  std::string address;        // host:port of the control plane's gRPC listener
  std::string tls_ca_file;    // PEM roots; set = TLS
  std::string tls_cert_file;  // client certificate (mTLS), with tls_key_file
  std::string tls_key_file;
  std::string tls_server_name;  // overrides the name checked in the server certificate
  bool insecure = false;        // allow plaintext to a non-loopback address
};

// A factory of fresh channels to a remote control plane (one per stream attempt, each with its
// own subchannel, so a restarted control plane is reached at the next attempt rather than after
// gRPC's own connection backoff). Plaintext is refused for a non-loopback address unless
// `insecure`; TLS files are read once, here.
absl::StatusOr<ChannelFactory> MakeControlPlaneChannelFactory(
    const ControlPlaneChannelOptions& options);

}  // namespace ccrelay::subscription
