#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"

#include "dataplane/subscription/applier.h"

namespace grpc {
class Channel;
}

namespace ccrelay::subscription {

// Makes the channel of one stream attempt (a fresh one per attempt for a remote control plane;
// the in-process channel for `cc-relay serve`).
using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>()>;

struct SubscriptionOptions {
  std::string id;                             // stable for the process
  std::string control_plane;                  // for logs and admin: address or "in-process"
  std::map<std::string, std::string> labels;  // sent in the hello
  std::string listen_address;                 // client API as bound
  std::string admin_address;                  // DataPlaneAdmin as bound ("" = none)
  std::string token;                          // sent as "authorization: Bearer <token>" ("" = none)
  std::chrono::milliseconds stats_interval{1000};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{10000};
};

// What the subscription knows, for the admin API.
struct SubscriptionStatus {
  bool connected = false;
  int64_t last_contact_unix_ms = 0;  // last message from the control plane
  uint64_t last_rejected_version = 0;
  std::string last_nack_error;
  uint64_t streams_started = 0;
};

// The data plane's side of DataPlaneSync (Envoy's gRPC mux): one bidirectional stream to the
// control plane. Sends a hello (id, build version, labels, addresses, last applied version), then
// applies each SnapshotUpdate on its own thread (never in a gRPC reaction) and answers ACK
// (version, nonce) or NACK (rejected version, last good version, nonce, error). Sends a
// StatsReport every stats_interval while connected, and a HealthReport when what it observes of
// upstream health changed (all of it on each new stream). When the stream fails it reconnects with
// jittered exponential backoff and re-sends the hello; meanwhile the data plane keeps serving its
// last snapshot (static stability). Updates that arrive while one is being applied are coalesced:
// only the newest is applied and answered (state of the world). RoutingEstimates (the control
// plane's shared latency estimates) are applied as they come, unanswered.
class SnapshotSubscription {
 public:
  SnapshotSubscription(SubscriptionOptions options, ChannelFactory channel_factory,
                       SnapshotApplier& applier);
  ~SnapshotSubscription();  // Stop()
  SnapshotSubscription(const SnapshotSubscription&) = delete;
  SnapshotSubscription& operator=(const SnapshotSubscription&) = delete;

  // Starts the thread and the first stream.
  void Start();
  // Cancels the stream, waits for it to end and joins the thread. Idempotent. Never call it from
  // a gRPC reaction.
  void Stop();

  // Waits until the first snapshot has been applied (OK) or rejected (the NACK error), or
  // DeadlineExceeded.
  absl::Status WaitForFirstSnapshot(std::chrono::milliseconds timeout);

  SubscriptionStatus status() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ccrelay::subscription
