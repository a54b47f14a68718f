#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

#include "controlplane/management/management_service.h"

namespace grpc {
class Channel;
}

namespace ccrelay::v1 {
class RoutingSnapshot;
}

namespace ccrelay::controlplane {

struct ControlPlaneOptions {
  // Config file; "" = the default path if it exists, else the built-in default (then there is
  // nothing to watch or reload).
  std::string config_path;
  // gRPC listener for DataPlaneSync and Management. Port 0 picks a free port. Anything but a
  // loopback address requires token_file. "" = no network listener (InProcessChannel only).
  std::string listen = "127.0.0.1:8788";
  // File holding the shared token (first line) that data planes and cc-relayctl present as
  // "authorization: Bearer <token>" metadata. Optional on loopback.
  std::string token_file;
  // File holding the read-only token (first line): Management reads only (SPEC.md "Management
  // roles"). Needs token_file. "" = none.
  std::string read_only_token_file;
  // TLS for the gRPC listener (server certificate and key, PEM); with client_ca_file, client
  // certificates are required and verified (mTLS for data planes).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Runtime changes (management API) persist here; "" = "<config path>.state.json", or none
  // with the built-in default.
  std::string state_file;
  // The database of teammates and usage (SQLite, mode 0600). "" = beside the config,
  // "<config>.db", or with the built-in default config
  // "${XDG_STATE_HOME:-$HOME/.local/state}/cc-relay/cc-relay.db"; "none" (or ":memory:") = in
  // memory, gone with the process. One that cannot be opened stops the start.
  std::string db_path;
  // Watch the config file with inotify and reload on change.
  bool watch_config = true;
  // HTTP listener serving GET /metrics (Prometheus text 0.0.4) and GET /health (200
  // {"status":"ok"}); logs "control_plane_http_listening address=HOST:PORT" once bound. Port 0
  // picks a free port; "" = none. Cannot be bound → Unavailable (like the gRPC listener).
  std::string http_listen;
  // TLS for that listener (certificate chain and key, PEM; both or neither): it then speaks only
  // HTTPS, and the web dashboard serves on any address (SPEC.md "Web dashboard over TLS"). A file
  // that cannot be read or used → FailedPrecondition naming it.
  std::string http_tls_cert_file;
  std::string http_tls_key_file;
  // Called once the config is loaded, before anything is logged about listeners (the commands
  // apply its `logging` section here, so that every line follows it). Optional.
  std::function<void(const ccrelay::v1::RoutingSnapshot&)> on_config_loaded;
};

// The control plane: owns config loading, validation and hot reload, runtime changes, the
// per-data-plane snapshots (DataPlaneSync) and the Management API. Runs its own threads.
class TeamStore;

class ControlPlane {
 public:
  virtual ~ControlPlane() = default;

  // Loads the config (errors → InvalidArgument with every error, file:line:col), starts the
  // gRPC server and the config watcher.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Start(const ControlPlaneOptions& options);

  // A channel to this control plane that does not leave the process (cc-relay serve). It adds
  // the token (if any) to every call itself.
  virtual std::shared_ptr<grpc::Channel> InProcessChannel() = 0;
  // "127.0.0.1:8788" as bound ("" without a network listener).
  virtual std::string listen_address() const = 0;
  // The HTTP listener (/metrics, /health) as bound ("" without one).
  virtual std::string http_listen_address() const { return ""; }
  // The effective snapshot in force (with secrets: for this process only, e.g. `serve` reading
  // server.listen and logging before its data plane has synced).
  virtual std::shared_ptr<const ccrelay::v1::RoutingSnapshot> CurrentSnapshot() const = 0;
  // Reload the config file now (SIGHUP, cc-relayctl config reload). An invalid file is
  // rejected whole; the running config stays.
  virtual absl::Status Reload() = 0;
  // Registers the data plane that runs in this process (`serve`) under its id, so that route
  // explain for it does not go through the network; an empty function removes it (before the
  // data plane is destroyed).
  virtual void SetLocalExplainer(const std::string& data_plane_id,
                                 ManagementService::LocalExplainer explainer) = 0;
  // The database of teammates and usage, open for the control plane's lifetime (thread-safe).
  // Never null once Start succeeded.
  virtual TeamStore* store() const = 0;
  // Stops the gRPC server (data planes keep serving their last snapshot) and the watcher.
  virtual void Shutdown() = 0;
};

}  // namespace ccrelay::controlplane
