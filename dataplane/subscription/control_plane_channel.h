#pragma once

#include "absl/status/statusor.h"

#include "dataplane/common/grpc_channel.h"
#include "dataplane/subscription/snapshot_subscription.h"

namespace ccrelay::subscription {

// A factory of fresh channels to a remote control plane (one per stream attempt, each with its
// own subchannel, so a restarted control plane is reached at the next attempt rather than after
// gRPC's own connection backoff), made by common::MakeGrpcChannelFactory with the channel
// arguments of a data plane: reconnect backoff 100 ms to 10 s, keepalive pings every 30 s (10 s
// timeout), snapshots up to 64 MiB. `options` gives the address and TLS; plaintext is refused for
// a non-loopback address unless `insecure`; TLS files are read once, here. The token is not the
// channel's: the subscription sends it on its stream.
absl::StatusOr<ChannelFactory> MakeControlPlaneChannelFactory(common::GrpcChannelOptions options);

}  // namespace ccrelay::subscription
