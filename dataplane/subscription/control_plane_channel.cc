#include "dataplane/subscription/control_plane_channel.h"

#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "dataplane/common/address.h"
#include "dataplane/common/str.h"

namespace ccrelay::subscription {

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(common::StrCat(what, " ", path, ": cannot read"));
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

absl::StatusOr<ChannelFactory> MakeControlPlaneChannelFactory(
    const ControlPlaneChannelOptions& options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("the control plane address is empty");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (!options.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    auto roots = ReadPem(options.tls_ca_file, "--tls-ca");
    if (!roots.ok()) {
      return roots.status();
    }
    ssl.pem_root_certs = *std::move(roots);
    if (!options.tls_cert_file.empty()) {
      auto cert = ReadPem(options.tls_cert_file, "--tls-cert");
      if (!cert.ok()) {
        return cert.status();
      }
      auto key = ReadPem(options.tls_key_file, "--tls-key");
      if (!key.ok()) {
        return key.status();
      }
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    creds = grpc::SslCredentials(ssl);
  } else {
    if (!options.tls_cert_file.empty()) {
      return absl::InvalidArgumentError("--tls-cert needs --tls-ca (the control plane's CA)");
    }
    if (!common::IsLoopbackAddress(options.address) && !options.insecure) {
      return absl::InvalidArgumentError(common::StrCat(
          "refusing plaintext gRPC to ", options.address,
          ", which is not a loopback address: give --tls-ca (or --insecure on a trusted network)"));
    }
    creds = grpc::InsecureChannelCredentials();
  }
  const std::string address = options.address;
  const std::string server_name = options.tls_server_name;
  return ChannelFactory([address, server_name, creds] {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 10000);
    // Find a control plane that vanished without closing the connection (the control plane
    // accepts pings down to one per 10 s).
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
    if (!server_name.empty()) {
      args.SetSslTargetNameOverride(server_name);
    }
    return grpc::CreateCustomChannel(address, creds, args);
  });
}

}  // namespace ccrelay::subscription
