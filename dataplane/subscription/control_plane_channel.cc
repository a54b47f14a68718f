#include "dataplane/subscription/control_plane_channel.h"

#include <chrono>
#include <utility>

namespace ccrelay::subscription {

absl::StatusOr<ChannelFactory> MakeControlPlaneChannelFactory(common::GrpcChannelOptions options) {
  options.own_subchannel = true;
  options.min_reconnect_backoff = std::chrono::milliseconds(100);
  options.max_reconnect_backoff = std::chrono::seconds(10);
  // A handshake may take this long (TLS over a slow link, a control plane under load) whatever
  // the reconnect delay; a refused connection still fails at once and is retried after 100 ms.
  options.min_connect_timeout = std::chrono::seconds(5);
  // Find a control plane that vanished without closing the connection (the control plane
  // accepts pings down to one per 10 s).
  options.keepalive_time = std::chrono::seconds(30);
  options.keepalive_timeout = std::chrono::seconds(10);
  options.max_receive_message_bytes = 64 * 1024 * 1024;
  return common::MakeGrpcChannelFactory(options);
}

}  // namespace ccrelay::subscription
