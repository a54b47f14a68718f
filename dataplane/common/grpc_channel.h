#pragma once

// The one way this tree makes gRPC client channels (cc-relayctl, `cc-relay tui`, a data plane's
// subscription): TLS or plaintext, the shared token, channel arguments. Built as its own library,
// ccrelay_grpc_channel, so that ccrelay_common stays free of gRPC.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpc {
class Channel;
namespace experimental {
class ClientInterceptorFactoryInterface;
}  // namespace experimental
}  // namespace grpc

namespace ccrelay::common {

struct GrpcChannelOptions {
  // host:port, [v6]:port or a gRPC target (dns:///host:port, ipv4:..., unix:PATH).
  std::string target;
  // PEM roots that verify the server: set = TLS. Without it the channel is plaintext, which is
  // refused for a target beyond loopback unless `insecure`.
  std::string tls_ca_file;
  // Client certificate and key (PEM) for mTLS: both or neither, and only with tls_ca_file.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The name checked in the server's certificate instead of the target's host.
  std::string tls_server_name;
  bool insecure = false;
  // File whose first line is the shared token: every call on the channel then carries
  // "authorization: Bearer <token>". Read once. "" = no token.
  std::string token_file;

  // Channel arguments; zero keeps gRPC's default.
  std::chrono::milliseconds keepalive_time{0};         // ping a connection this often
  std::chrono::milliseconds keepalive_timeout{0};      // and drop it when a ping is not answered
  // The first reconnect delay (gRPC's initial backoff; it then grows 1.6x per attempt).
  std::chrono::milliseconds min_reconnect_backoff{0};
  std::chrono::milliseconds max_reconnect_backoff{0};
  // The least time a connection attempt (TCP, TLS, HTTP/2 SETTINGS) is given before it is
  // abandoned (gRPC's MIN_CONNECT_TIMEOUT, set through GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: that
  // argument is not a backoff). Zero keeps gRPC's 20 s. Never tie it to the reconnect delay: a
  // 100 ms connect deadline never connects to a control plane 100 ms of handshake away.
  std::chrono::milliseconds min_connect_timeout{0};
  int max_receive_message_bytes = 0;
  // Each channel gets its own subchannel (connection) instead of sharing the process-wide one.
  bool own_subchannel = false;
};

using GrpcChannelFactory = std::function<std::shared_ptr<grpc::Channel>()>;

// Checks `options` and reads the files they name (token, PEM) once; the factory returned makes
// channels from what was read and touches no file. Errors name the file and its flag
// ("--tls-ca PATH: cannot read"), never a file's content: NotFound for an unreadable file,
// InvalidArgument for options that do not go together and for plaintext refused.
absl::StatusOr<GrpcChannelFactory> MakeGrpcChannelFactory(const GrpcChannelOptions& options);

// One channel made as MakeGrpcChannelFactory(options) would.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateGrpcChannel(const GrpcChannelOptions& options);

// Interceptor factories that put "authorization: Bearer <token>" on every call of a channel that
// is made elsewhere (a server's InProcessChannelWithInterceptors).
std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
BearerTokenInterceptors(const std::string& token);

}  // namespace ccrelay::common
