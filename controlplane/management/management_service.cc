#include "controlplane/management/management_service.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "proto/admin.grpc.pb.h"
#include "proto/management.grpc.pb.h"

#include "controlplane/credentials/minted_keys.h"

#include "controlplane/management/config_yaml.h"
#include "controlplane/management/provider_view.h"
#include "controlplane/management/users_service.h"
#include "controlplane/snapshot/snapshot_cache.h"
#include "controlplane/state/config_store.h"
#include "controlplane/stats/stats_aggregator.h"
#include "controlplane/stream/call_auth.h"
#include "controlplane/stream/dataplane_registry.h"
#include "dataplane/common/clock.h"
#include "dataplane/common/log.h"
#include "dataplane/common/str.h"
#include "grpcpp/grpcpp.h"

namespace ccrelay::controlplane {
namespace {

namespace v1 = ccrelay::v1;
using common::StrCat;

grpc::Status ToGrpc(const absl::Status& st) {
  if (st.ok()) {
    return grpc::Status::OK;
  }
  return {static_cast<grpc::StatusCode>(st.code()), std::string(st.message())};
}

KeyLimitsSpec LimitsFrom(const v1::KeyLimits& l) {
  return KeyLimitsSpec{l.rpm_limit(), l.tpm_limit(), l.itpm_limit(), l.otpm_limit(),
                       std::max<uint32_t>(1, l.weight())};
}

void FillConfigError(const ConfigError& e, v1::ConfigError* out) {
  out->set_file(e.file);
  out->set_line(e.line);
  out->set_column(e.column);
  out->set_key_path(e.key_path);
  out->set_message(e.message);
}

// Longest a forwarded route explain waits for the data plane (less when the caller's deadline
// is nearer).
constexpr std::chrono::seconds kExplainDeadline{5};

constexpr uint32_t kDefaultWatchIntervalMs = 1000;
constexpr uint32_t kMinWatchIntervalMs = 100;

}  // namespace

class ManagementService::Impl final : public v1::Management::Service {
 public:
  explicit Impl(Deps deps) : d_(std::move(deps)) {
    if (!d_.env) {
      d_.env = ProcessEnv();
    }
  }

  void Shutdown() {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
  }

  // v1::Management::Service
  grpc::Status ListProviders(grpc::ServerContext* ctx, const v1::ListProvidersRequest*,
                             v1::ListProvidersResponse* resp) override {
    if (auto st = Authorize(*ctx, Access::kRead, "ListProviders"); !st.ok()) {
      return st;
    }
    SnapshotConstSharedPtr effective = d_.cache->Current();
    for (v1::ProviderInfo& p : Providers(*effective)) {
      *resp->add_providers() = std::move(p);
    }
    resp->set_strategy(effective->routing().strategy());
    resp->set_snapshot_version(effective->version());
    return grpc::Status::OK;
  }

  grpc::Status GetProvider(grpc::ServerContext* ctx, const v1::GetProviderRequest* req,
                           v1::ProviderInfo* resp) override {
    if (auto st = Authorize(*ctx, Access::kRead, "GetProvider"); !st.ok()) {
      return st;
    }
    return FindProvider(req->name(), resp);
  }

  grpc::Status SetProviderEnabled(grpc::ServerContext* ctx,
                                  const v1::SetProviderEnabledRequest* req,
                                  v1::ProviderInfo* resp) override {
    if (auto st = Authorize(*ctx, Access::kWrite, "SetProviderEnabled"); !st.ok()) {
      return st;
    }
    if (auto st = d_.store->SetProviderEnabled(req->name(), req->enabled()); !st.ok()) {
      return ToGrpc(st);
    }
    return FindProvider(req->name(), resp);
  }

  grpc::Status ListKeys(grpc::ServerContext* ctx, const v1::ListKeysRequest* req,
                        v1::ListKeysResponse* resp) override {
    if (auto st = Authorize(*ctx, Access::kRead, "ListKeys"); !st.ok()) {
      return st;
    }
    bool found = req->provider().empty();
    for (const v1::ProviderInfo& p : Providers(*d_.cache->Current())) {
      if (!req->provider().empty() && p.name() != req->provider()) {
        continue;
      }
      found = true;
      for (const v1::KeyInfo& k : p.keys()) {
        *resp->add_keys() = k;
      }
    }
    if (!found) {
      return {grpc::StatusCode::NOT_FOUND, StrCat("no provider \"", req->provider(), "\"")};
    }
    return grpc::Status::OK;
  }

  grpc::Status AddKey(grpc::ServerContext* ctx, const v1::AddKeyRequest* req,
                      v1::KeyInfo* resp) override {
    if (auto st = Authorize(*ctx, Access::kWrite, "AddKey"); !st.ok()) {
      return st;
    }
    absl::StatusOr<std::string> fp =
        d_.store->AddKey(req->provider(), req->key(), LimitsFrom(req->limits()));
    if (!fp.ok()) {
      return ToGrpc(fp.status());
    }
    return FindKey(req->provider(), *fp, resp);
  }

  grpc::Status RemoveKey(grpc::ServerContext* ctx, const v1::RemoveKeyRequest* req,
                         v1::RemoveKeyResponse*) override {
    if (auto st = Authorize(*ctx, Access::kWrite, "RemoveKey"); !st.ok()) {
      return st;
    }
    return ToGrpc(d_.store->RemoveKey(req->provider(), req->fingerprint()));
  }

  grpc::Status RotateKey(grpc::ServerContext* ctx, const v1::RotateKeyRequest* req,
                         v1::KeyInfo* resp) override {
    if (auto st = Authorize(*ctx, Access::kWrite, "RotateKey"); !st.ok()) {
      return st;
    }
    std::optional<KeyLimitsSpec> limits;
    if (req->has_limits()) {
      limits = LimitsFrom(req->limits());
    }
    absl::StatusOr<std::string> fp =
        d_.store->RotateKey(req->provider(), req->old_fingerprint(), req->new_key(), limits);
    if (!fp.ok()) {
      return ToGrpc(fp.status());
    }
    return FindKey(req->provider(), *fp, resp);
  }

  grpc::Status SetKeyEnabled(grpc::ServerContext* ctx, const v1::SetKeyEnabledRequest* req,
                             v1::KeyInfo* resp) override {
    if (auto st = Authorize(*ctx, Access::kWrite, "SetKeyEnabled"); !st.ok()) {
      return st;
    }
    if (auto st = d_.store->SetKeyEnabled(req->provider(), req->fingerprint(), req->enabled());
        !st.ok()) {
      return ToGrpc(st);
    }
    return FindKey(req->provider(), req->fingerprint(), resp);
  }

  grpc::Status ListDataPlanes(grpc::ServerContext* ctx, const v1::ListDataPlanesRequest*,
                              v1::ListDataPlanesResponse* resp) override {
    if (auto st = Authorize(*ctx, Access::kRead, "ListDataPlanes"); !st.ok()) {
      return st;
    }
    for (v1::DataPlaneInfo& dp : d_.registry->List(d_.clock->UnixMillis())) {
      *resp->add_data_planes() = std::move(dp);
    }
    return grpc::Status::OK;
  }

  grpc::Status ExplainRoute(grpc::ServerContext* ctx,
                            const v1::ExplainRouteViaControlPlaneRequest* req,
                            v1::RouteExplanation* resp) override {
    if (auto st = Authorize(*ctx, Access::kRead, "ExplainRoute"); !st.ok()) {
      return st;
    }
    v1::DataPlaneInfo target;
    if (grpc::Status st = PickDataPlane(req->data_plane_id(), &target); !st.ok()) {
      return st;
    }
    {
      absl::MutexLock lock(&mu_);
      auto it = local_.find(target.id());
      if (it != local_.end()) {
        // The data plane of this process (`serve`); it stays registered until it is gone.
        return ToGrpc(it->second(req->request(), resp));
      }
    }
    if (target.admin_address().empty()) {
      return {grpc::StatusCode::FAILED_PRECONDITION,
              StrCat("data plane ", target.id(), " has no admin API (--admin-listen none)")};
    }
    // The admin API is plaintext gRPC; a data plane listening beyond loopback requires the
    // token, which is the one it syncs with (the control plane's).
    auto channel =
        grpc::CreateChannel(target.admin_address(), grpc::InsecureChannelCredentials());
    auto stub = v1::DataPlaneAdmin::NewStub(channel);
    grpc::ClientContext call;
    const auto deadline = std::chrono::system_clock::now() + kExplainDeadline;
    call.set_deadline(std::min(deadline, ctx->deadline()));
    if (!d_.admin_token.empty()) {
      call.AddMetadata("authorization", StrCat("Bearer ", d_.admin_token));
    }
    const grpc::Status st = stub->ExplainRoute(&call, req->request(), resp);
    if (!st.ok()) {
      return {st.error_code(), StrCat("data plane ", target.id(), " (admin API ",
                                      target.admin_address(), "): ", st.error_message())};
    }
    return grpc::Status::OK;
  }

  void SetLocalExplainer(const std::string& id, LocalExplainer explainer) {
    absl::MutexLock lock(&mu_);
    if (explainer) {
      local_[id] = std::move(explainer);
    } else {
      local_.erase(id);
    }
  }

  grpc::Status GetStats(grpc::ServerContext* ctx, const v1::GetStatsRequest*,
                        v1::StatsSnapshot* resp) override {
    if (auto st = Authorize(*ctx, Access::kRead, "GetStats"); !st.ok()) {
      return st;
    }
    *resp = BuildStats();
    return grpc::Status::OK;
  }

  grpc::Status WatchStats(grpc::ServerContext* ctx, const v1::WatchStatsRequest* req,
                          grpc::ServerWriter<v1::StatsSnapshot>* writer) override {
    if (auto st = Authorize(*ctx, Access::kRead, "WatchStats"); !st.ok()) {
      return st;
    }
    const uint32_t interval_ms = req->interval_ms() == 0
                                     ? kDefaultWatchIntervalMs
                                     : std::max(req->interval_ms(), kMinWatchIntervalMs);
    for (;;) {
      if (!writer->Write(BuildStats())) {
        return grpc::Status::OK;  // the client went away
      }
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&shutting_down_), absl::Milliseconds(interval_ms))) {
        return {grpc::StatusCode::UNAVAILABLE, "control plane shutting down"};
      }
      if (ctx->IsCancelled()) {
        return grpc::Status::CANCELLED;
      }
    }
  }

  grpc::Status ValidateConfig(grpc::ServerContext* ctx, const v1::ValidateConfigRequest* req,
                              v1::ValidateConfigResponse* resp) override {
    if (auto st = Authorize(*ctx, Access::kRead, "ValidateConfig"); !st.ok()) {
      return st;
    }
    LoadResult r;
    if (!req->yaml().empty()) {
      r = LoadConfigString(req->yaml(), req->path().empty() ? "<request>" : req->path(), d_.env);
    } else if (!req->path().empty()) {
      r = LoadConfigFile(req->path(), d_.env);
    } else if (!d_.store->config_path().empty()) {
      r = LoadConfigFile(d_.store->config_path(), d_.env);
    }
    resp->set_valid(r.ok());
    for (const ConfigError& e : r.errors) {
      FillConfigError(e, resp->add_errors());
    }
    return grpc::Status::OK;
  }

  grpc::Status ReloadConfig(grpc::ServerContext* ctx, const v1::ReloadConfigRequest*,
                            v1::ConfigStatus* resp) override {
    if (auto st = Authorize(*ctx, Access::kWrite, "ReloadConfig"); !st.ok()) {
      return st;
    }
    // A rejected file is reported in the status (last_reload_ok, last_errors), not as an
    // RPC error: the call itself did what it was asked.
    (void)d_.store->Reload();
    *resp = ConfigStatus();
    return grpc::Status::OK;
  }

  grpc::Status ShowConfig(grpc::ServerContext* ctx, const v1::ShowConfigRequest*,
                          v1::ShowConfigResponse* resp) override {
    if (auto st = Authorize(*ctx, Access::kRead, "ShowConfig"); !st.ok()) {
      return st;
    }
    SnapshotConstSharedPtr effective = d_.cache->Current();
    resp->set_yaml(RedactedConfigYaml(*effective, *d_.store->config()));
    resp->set_snapshot_version(effective->version());
    return grpc::Status::OK;
  }

  grpc::Status GetConfigStatus(grpc::ServerContext* ctx, const v1::GetConfigStatusRequest*,
                               v1::ConfigStatus* resp) override {
    if (auto st = Authorize(*ctx, Access::kRead, "GetConfigStatus"); !st.ok()) {
      return st;
    }
    *resp = ConfigStatus();
    return grpc::Status::OK;
  }

  // Teammates (issue 15).
  grpc::Status AddUser(grpc::ServerContext* ctx, const v1::AddUserRequest* req,
                       v1::NewUserKey* resp) override {
    if (auto st = AuthorizeUsers(*ctx, Access::kWrite, "AddUser"); !st.ok()) {
      return st;
    }
    return Answer(d_.users->AddUser(*req), resp);
  }

  grpc::Status ListUsers(grpc::ServerContext* ctx, const v1::ListUsersRequest*,
                         v1::ListUsersResponse* resp) override {
    if (auto st = AuthorizeUsers(*ctx, Access::kRead, "ListUsers"); !st.ok()) {
      return st;
    }
    absl::StatusOr<std::vector<v1::UserInfo>> users = d_.users->ListUsers();
    if (!users.ok()) {
      return ToGrpc(users.status());
    }
    for (v1::UserInfo& u : *users) {
      *resp->add_users() = std::move(u);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetUser(grpc::ServerContext* ctx, const v1::GetUserRequest* req,
                       v1::UserInfo* resp) override {
    if (auto st = AuthorizeUsers(*ctx, Access::kRead, "GetUser"); !st.ok()) {
      return st;
    }
    return Answer(d_.users->GetUser(req->name()), resp);
  }

  grpc::Status SetUserEnabled(grpc::ServerContext* ctx, const v1::SetUserEnabledRequest* req,
                              v1::UserInfo* resp) override {
    if (auto st = AuthorizeUsers(*ctx, Access::kWrite, "SetUserEnabled"); !st.ok()) {
      return st;
    }
    return Answer(d_.users->SetUserEnabled(req->name(), req->enabled()), resp);
  }

  grpc::Status SetUserPolicy(grpc::ServerContext* ctx, const v1::SetUserPolicyRequest* req,
                             v1::UserInfo* resp) override {
    if (auto st = AuthorizeUsers(*ctx, Access::kWrite, "SetUserPolicy"); !st.ok()) {
      return st;
    }
    return Answer(d_.users->SetUserPolicy(req->name(), req->policy()), resp);
  }

  grpc::Status RemoveUser(grpc::ServerContext* ctx, const v1::RemoveUserRequest* req,
                          v1::RemoveUserResponse*) override {
    if (auto st = AuthorizeUsers(*ctx, Access::kWrite, "RemoveUser"); !st.ok()) {
      return st;
    }
    return ToGrpc(d_.users->RemoveUser(req->name()));
  }

  grpc::Status RotateUserKey(grpc::ServerContext* ctx, const v1::RotateUserKeyRequest* req,
                             v1::NewUserKey* resp) override {
    if (auto st = AuthorizeUsers(*ctx, Access::kWrite, "RotateUserKey"); !st.ok()) {
      return st;
    }
    return Answer(d_.users->RotateUserKey(req->name()), resp);
  }

  grpc::Status GetUsage(grpc::ServerContext* ctx, const v1::GetUsageRequest* req,
                        v1::UsageReport* resp) override {
    Caller caller;
    if (auto st = AuthorizeUsers(*ctx, Access::kSelf, "GetUsage", &caller); !st.ok()) {
      return st;
    }
    v1::GetUsageRequest request = *req;
    if (caller.role == Role::kUser) {
      // A relay key sees its own usage only, whatever it asked for.
      if (!request.user().empty() && request.user() != caller.user) {
        return {grpc::StatusCode::PERMISSION_DENIED,
                StrCat("a relay key (user ", caller.user,
                       ") may read only its own usage, not user ", request.user())};
      }
      request.set_user(caller.user);
    }
    return Answer(d_.users->Usage(request), resp);
  }

  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest*,
                      v1::WhoAmIResponse* resp) override {
    Caller caller;
    if (auto st = Authorize(*ctx, Access::kSelf, "WhoAmI", &caller); !st.ok()) {
      return st;
    }
    resp->set_role(std::string(RoleName(caller.role)));
    resp->set_user(caller.user);
    return grpc::Status::OK;
  }

 private:
  template <typename T>
  static grpc::Status Answer(absl::StatusOr<T> result, T* resp) {
    if (!result.ok()) {
      return ToGrpc(result.status());
    }
    *resp = *std::move(result);
    return grpc::Status::OK;
  }
  // The caller's role (SPEC.md "Management roles") allows `rpc`: OK, with the caller in
  // `caller`; UNAUTHENTICATED or PERMISSION_DENIED otherwise (logged, never with the token).
  grpc::Status Authorize(const grpc::ServerContext& ctx, Access access, std::string_view rpc,
                         Caller* caller = nullptr) const {
    absl::StatusOr<Caller> who = d_.auth->Identify(ctx);
    absl::Status st = who.ok() ? Permit(*who, access, rpc) : who.status();
    if (!st.ok()) {
      CCR_LOG(kWarn, "management_refused", common::Q("peer", ctx.peer()), common::F("rpc", rpc),
              common::Q("reason", st.message()));
      return ToGrpc(st);
    }
    if (caller != nullptr) {
      *caller = *std::move(who);
    }
    return grpc::Status::OK;
  }

  // Authorize, for an RPC of the users side (which needs the database).
  grpc::Status AuthorizeUsers(const grpc::ServerContext& ctx, Access access, std::string_view rpc,
                              Caller* caller = nullptr) const {
    if (grpc::Status st = Authorize(ctx, access, rpc, caller); !st.ok()) {
      return st;
    }
    if (d_.users == nullptr) {
      return {grpc::StatusCode::FAILED_PRECONDITION, "this control plane has no user database"};
    }
    return grpc::Status::OK;
  }

  std::vector<v1::ProviderInfo> Providers(const v1::RoutingSnapshot& effective) {
    std::vector<DrainingKey> draining = d_.store->Draining(
        [this](uint64_t version) { return d_.registry->AllConnectedAcked(version); });
    SnapshotConstSharedPtr config = d_.store->config();
    RuntimeState state = d_.store->runtime_state();
    std::map<std::string, credentials::CredentialState> minted;
    if (d_.minted_keys != nullptr) {
      minted = d_.minted_keys->States();
    }
    return BuildProviderInfos(ProviderViewInputs{effective, *config, state, *d_.stats, draining,
                                                 d_.checks, &minted, d_.clock->UnixMillis()});
  }

  grpc::Status FindProvider(const std::string& name, v1::ProviderInfo* out) {
    for (v1::ProviderInfo& p : Providers(*d_.cache->Current())) {
      if (p.name() == name) {
        *out = std::move(p);
        return grpc::Status::OK;
      }
    }
    return {grpc::StatusCode::NOT_FOUND, StrCat("no provider \"", name, "\"")};
  }

  // The data plane `id` names, or, for "", the only one connected.
  grpc::Status PickDataPlane(const std::string& id, v1::DataPlaneInfo* out) {
    std::vector<v1::DataPlaneInfo> connected;
    for (v1::DataPlaneInfo& dp : d_.registry->List(d_.clock->UnixMillis())) {
      if (!id.empty() && dp.id() == id) {
        if (!dp.connected()) {
          return {grpc::StatusCode::UNAVAILABLE,
                  StrCat("data plane ", id, " is not connected to the control plane")};
        }
        *out = std::move(dp);
        return grpc::Status::OK;
      }
      if (dp.connected()) {
        connected.push_back(std::move(dp));
      }
    }
    if (!id.empty()) {
      return {grpc::StatusCode::NOT_FOUND, StrCat("no data plane \"", id, "\"")};
    }
    if (connected.empty()) {
      return {grpc::StatusCode::FAILED_PRECONDITION, "no data plane is connected"};
    }
    if (connected.size() > 1) {
      std::string ids;
      for (const v1::DataPlaneInfo& dp : connected) {
        common::StrAppend(&ids, ids.empty() ? "" : ", ", dp.id());
      }
      return {grpc::StatusCode::INVALID_ARGUMENT,
              StrCat(connected.size(), " data planes are connected (", ids,
                     "): name one (--data-plane ID)")};
    }
    *out = std::move(connected.front());
    return grpc::Status::OK;
  }

  grpc::Status FindKey(const std::string& provider, const std::string& fingerprint,
                       v1::KeyInfo* out) {
    v1::ProviderInfo p;
    if (grpc::Status st = FindProvider(provider, &p); !st.ok()) {
      return st;
    }
    for (const v1::KeyInfo& k : p.keys()) {
      if (k.fingerprint() == fingerprint && k.state() != "draining") {
        *out = k;
        return grpc::Status::OK;
      }
    }
    return {grpc::StatusCode::NOT_FOUND,
            StrCat("provider ", provider, " has no key ", fingerprint)};
  }

  v1::StatsSnapshot BuildStats() {
    v1::StatsSnapshot s;
    SnapshotConstSharedPtr effective = d_.cache->Current();
    s.set_version(CCR_VERSION);
    s.set_strategy(effective->routing().strategy());
    s.set_snapshot_version(effective->version());
    d_.stats->FillTotals(&s);
    for (v1::ProviderInfo& p : Providers(*effective)) {
      *s.add_providers() = std::move(p);
    }
    if (d_.users != nullptr) {
      // Every user with its spend (a database error leaves them out of this one snapshot).
      absl::StatusOr<std::vector<v1::UserInfo>> users = d_.users->ListUsers();
      if (users.ok()) {
        for (v1::UserInfo& u : *users) {
          *s.add_users() = std::move(u);
        }
      } else {
        CCR_LOG(kWarn, "stats_users_failed", common::Q("error", users.status().message()));
      }
    }
    return s;
  }

  v1::ConfigStatus ConfigStatus() {
    const ConfigStatusInfo info = d_.store->Status();
    v1::ConfigStatus s;
    s.set_path(info.path);
    s.set_snapshot_version(d_.cache->version());
    s.set_loaded_unix_ms(info.loaded_unix_ms);
    s.set_last_reload_ok(info.last_reload_ok);
    s.set_last_reload_unix_ms(info.last_reload_unix_ms);
    for (const ConfigError& e : info.last_errors) {
      FillConfigError(e, s.add_last_errors());
    }
    s.set_state_file(info.state_file);
    return s;
  }

  Deps d_;
  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, LocalExplainer> local_ ABSL_GUARDED_BY(mu_);
};

ManagementService::ManagementService(Deps deps) : impl_(std::make_unique<Impl>(std::move(deps))) {}
ManagementService::~ManagementService() = default;

grpc::Service* ManagementService::service() { return impl_.get(); }

void ManagementService::Shutdown() { impl_->Shutdown(); }

void ManagementService::SetLocalExplainer(const std::string& id, LocalExplainer explainer) {
  impl_->SetLocalExplainer(id, std::move(explainer));
}

}  // namespace ccrelay::controlplane
