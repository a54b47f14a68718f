#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"

#include "controlplane/config/env_expand.h"

namespace grpc {
class Service;
}

namespace ccrelay::common {
class Clock;
}

namespace ccrelay::v1 {
class ExplainRouteRequest;
class RouteExplanation;
}  // namespace ccrelay::v1

namespace ccrelay::controlplane {

namespace credentials {
class MintedKeys;
}  // namespace credentials

class HealthChecker;

class CallAuthenticator;
class ConfigStore;
class DataPlaneRegistry;
class SnapshotCache;
class StatsAggregator;
class UsersService;

// The Management service (proto/management.proto), gRPC's synchronous API (handlers may block
// briefly: a runtime change fsyncs the state file). Every call is checked by the
// CallAuthenticator and the caller's role (admin, read-only, user: SPEC.md "Management roles");
// no response ever holds a secret (a new relay key, once, in AddUser/RotateUserKey only).
// ReloadConfig answers OK with the ConfigStatus: last_reload_ok says whether the file was
// applied, last_errors why not.
class ManagementService {
 public:
  struct Deps {
    ConfigStore* store = nullptr;
    SnapshotCache* cache = nullptr;
    DataPlaneRegistry* registry = nullptr;
    StatsAggregator* stats = nullptr;
    const CallAuthenticator* auth = nullptr;
    const common::Clock* clock = nullptr;
    EnvLookup env;  // for ValidateConfig's ${VAR}
    const HealthChecker* checks = nullptr;  // active health checks, shown with providers/keys
    // Minted credentials of providers without keys, shown with providers (may be null).
    const credentials::MintedKeys* minted_keys = nullptr;
    // The shared token, presented to data planes' admin APIs when ExplainRoute is forwarded
    // (a data plane's admin API takes the token it syncs with). "" = none. Never logged.
    std::string admin_token;
    // Teammates, their relay keys and usage (the database). Null: the user RPCs answer
    // FAILED_PRECONDITION.
    UsersService* users = nullptr;
  };
  // A data plane in this process (`serve`): route explain calls it directly.
  using LocalExplainer = std::function<absl::Status(const ccrelay::v1::ExplainRouteRequest&,
                                                    ccrelay::v1::RouteExplanation*)>;
  explicit ManagementService(Deps deps);
  ~ManagementService();

  grpc::Service* service();
  // Registers (or, with an empty function, removes) the in-process data plane `id`.
  void SetLocalExplainer(const std::string& id, LocalExplainer explainer);
  // Ends WatchStats streams (within moments) and refuses new ones.
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ccrelay::controlplane
