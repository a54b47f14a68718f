#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class Channel;
class ClientContext;
class Status;
}  // namespace grpc

namespace ccrelay::ctl {

// Flags every command takes.
struct GlobalFlags {
  std::string control_plane = "127.0.0.1:8788";
  std::string token_file;
  std::string output = "table";
  std::string tls_ca;
  std::string tls_server_name;
  bool insecure = false;
  uint32_t timeout_ms = 10000;
};

// A gRPC connection to the control plane (or to a data plane's admin API), made by
// common::CreateGrpcChannel: TLS when --tls-ca is given, plaintext only to a loopback address (or
// with --insecure); the token as "authorization: Bearer <token>" on every call; a deadline on
// every unary call.
class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const GlobalFlags& flags,
                                                         const std::string& address);

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // A context with, unless `streaming`, the deadline (the channel adds the token).
  std::unique_ptr<grpc::ClientContext> Context(bool streaming = false) const;
  const std::string& address() const { return address_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::string address_;
  std::chrono::milliseconds timeout_{10000};
};

// Prints "error: CODE: message" (with a hint for the usual causes) to stderr; returns 1.
int ReportRpcError(const grpc::Status& status, const std::string& address);

}  // namespace ccrelay::ctl
