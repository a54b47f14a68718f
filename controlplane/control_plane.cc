#include "controlplane/control_plane.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <arpa/inet.h>

#include "absl/synchronization/mutex.h"
#include "proto/snapshot.pb.h"

#include "controlplane/config/config_loader.h"
#include "controlplane/credentials/minted_keys.h"
#include "controlplane/credentials/minters.h"
#include "controlplane/health/health_checker.h"
#include "controlplane/management/management_service.h"
#include "controlplane/management/users_service.h"
#include "controlplane/reload/config_watcher.h"
#include "controlplane/snapshot/data_plane_view.h"
#include "controlplane/snapshot/limit_share.h"
#include "controlplane/snapshot/snapshot_cache.h"
#include "controlplane/state/config_store.h"
#include "controlplane/stats/metrics_http_server.h"
#include "controlplane/stats/latency_estimates.h"
#include "controlplane/stats/stats_aggregator.h"
#include "controlplane/store/team_store.h"
#include "controlplane/stream/call_auth.h"
#include "controlplane/stream/dataplane_registry.h"
#include "controlplane/stream/dataplane_sync_service.h"
#include "controlplane/webui/web_ui.h"
#include "dataplane/common/clock.h"
#include "dataplane/common/grpc_channel.h"
#include "dataplane/common/log.h"
#include "dataplane/common/status_macros.h"
#include "dataplane/common/str.h"
#include "dataplane/stats/prometheus_text.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/client_interceptor.h"
#include "openssl/crypto.h"

namespace ccrelay::controlplane {
namespace {

using common::F;
using common::Q;
using common::StrCat;

constexpr std::chrono::milliseconds kReloadDebounce{100};
constexpr std::chrono::seconds kShutdownGrace{2};

struct HostPort {
  std::string host;  // without brackets
  std::string port;
  bool ipv6 = false;
};

absl::StatusOr<HostPort> SplitHostPort(std::string_view addr) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= addr.size()) {
    return absl::InvalidArgumentError(
        StrCat("listen address \"", addr, "\": expected HOST:PORT (IPv6: [::1]:PORT)"));
  }
  HostPort hp;
  std::string_view host = addr.substr(0, colon);
  hp.port = std::string(addr.substr(colon + 1));
  uint32_t port = 0;
  if (!common::ParseUint(hp.port, &port) || port > 65535) {
    return absl::InvalidArgumentError(StrCat("listen address \"", addr, "\": bad port"));
  }
  if (common::ConsumePrefix(&host, "[")) {
    if (!common::ConsumeSuffix(&host, "]")) {
      return absl::InvalidArgumentError(StrCat("listen address \"", addr, "\": unclosed ["));
    }
    hp.ipv6 = true;
  }
  hp.host = std::string(host);
  return hp;
}

bool IsLoopback(const HostPort& hp) {
  if (hp.host == "localhost") {
    return true;
  }
  in_addr v4{};
  if (inet_pton(AF_INET, hp.host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, hp.host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;  // "", 0.0.0.0, a host name: anywhere but loopback
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(StrCat(what, " ", path, ": cannot read"));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// The database path (ControlPlaneOptions::db_path): "none" = in memory; "" = beside the config,
// or under the XDG state directory with the built-in default config.
std::string DatabasePath(const std::string& option, const std::string& config_path,
                         const EnvLookup& env) {
  if (option == "none" || option == ":memory:") {
    return ":memory:";
  }
  if (!option.empty()) {
    return option;
  }
  if (!config_path.empty()) {
    return StrCat(config_path, ".db");
  }
  std::optional<std::string> state = env ? env("XDG_STATE_HOME") : std::nullopt;
  std::filesystem::path dir;
  if (state.has_value() && !state->empty() && state->front() == '/') {
    dir = *state;
  } else {
    std::optional<std::string> home = env ? env("HOME") : std::nullopt;
    dir = home.has_value() && !home->empty() ? std::filesystem::path(*home) / ".local" / "state"
                                             : std::filesystem::path(".local/state");
  }
  return (dir / "cc-relay" / "cc-relay.db").string();
}

// Opens the database (the store makes its directory 0700 and the file 0600).
absl::StatusOr<std::unique_ptr<TeamStore>> OpenDatabase(const std::string& path) {
  absl::StatusOr<std::unique_ptr<TeamStore>> store = TeamStore::Open(path);
  if (!store.ok()) {
    return absl::Status(store.status().code(),
                        StrCat(store.status().message(),
                               " (choose another with --db FILE, or --db none for one in memory)"));
  }
  return store;
}

// Tells the health checker about every new snapshot (it posts to its own thread: no blocking
// under the cache's lock).
class HealthConfigWatcher final : public SnapshotWatcher {
 public:
  explicit HealthConfigWatcher(HealthChecker* checker) : checker_(checker) {}
  // SnapshotWatcher
  void OnSnapshot(const SnapshotConstSharedPtr&) override { checker_->OnConfigChanged(); }

 private:
  HealthChecker* const checker_;
};

// Hands every new snapshot to the minted keys (their own thread starts and stops refreshers: no
// blocking under the cache's lock).
class MintedKeysWatcher final : public SnapshotWatcher {
 public:
  explicit MintedKeysWatcher(credentials::MintedKeys* keys) : keys_(keys) {}
  // SnapshotWatcher
  void OnSnapshot(const SnapshotConstSharedPtr& snapshot) override { keys_->SyncSoon(snapshot); }

 private:
  credentials::MintedKeys* const keys_;
};

class ControlPlaneImpl final : public ControlPlane {
 public:
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Create(const ControlPlaneOptions& options);
  ~ControlPlaneImpl() override { Shutdown(); }

  // ControlPlane
  std::shared_ptr<grpc::Channel> InProcessChannel() override {
    grpc::ChannelArguments args;
    if (token_.empty()) {
      return server_->InProcessChannel(args);
    }
    // `serve`'s data plane goes through the same check as a remote one; the token never leaves
    // the process.
    return server_->experimental().InProcessChannelWithInterceptors(
        args, common::BearerTokenInterceptors(token_));
  }
  std::string listen_address() const override { return listen_address_; }
  std::string http_listen_address() const override {
    return http_ == nullptr ? std::string() : http_->address();
  }
  std::shared_ptr<const ccrelay::v1::RoutingSnapshot> CurrentSnapshot() const override {
    return cache_.Current();
  }
  absl::Status Reload() override { return store_->Reload(); }
  void SetLocalExplainer(const std::string& data_plane_id,
                         ManagementService::LocalExplainer explainer) override {
    management_->SetLocalExplainer(data_plane_id, std::move(explainer));
  }
  TeamStore* store() const override { return team_store_.get(); }
  void Shutdown() override;

 private:
  ControlPlaneImpl() = default;
  // The exposition of GET /metrics on the HTTP listener.
  std::string RenderMetrics() const;

  SnapshotCache cache_;
  std::unique_ptr<TeamStore> team_store_;  // teammates and usage (SQLite)
  std::unique_ptr<UsersService> users_;
  // Providers without keys whose credentials are minted here (Bedrock's AWS chain, Vertex's and
  // Azure's tokens), refreshed here.
  std::unique_ptr<credentials::MintedKeys> minted_keys_;
  std::unique_ptr<MintedKeysWatcher> minted_watcher_;
  std::unique_ptr<HealthChecker> health_;  // its results go into every data plane's snapshot
  std::unique_ptr<HealthConfigWatcher> health_watcher_;
  DataPlaneRegistry registry_;
  StatsAggregator stats_{common::RealClock::Get()};
  LatencyEstimates latency_{common::RealClock::Get()};
  CallAuthenticator auth_;
  std::unique_ptr<ConfigStore> store_;
  std::unique_ptr<DataPlaneSyncService> sync_;
  std::unique_ptr<ManagementService> management_;
  std::unique_ptr<grpc::Server> server_;  // after the services: destroyed before them
  std::unique_ptr<ConfigWatcher> watcher_;
  // The web dashboard (on the HTTP listener) and its channel to the Management API, which
  // carries no token of its own (each call carries the session's); set once the server is up.
  std::unique_ptr<webui::WebUi> webui_;
  absl::Mutex ui_channel_mu_;
  std::shared_ptr<grpc::Channel> ui_channel_ ABSL_GUARDED_BY(ui_channel_mu_);
  std::unique_ptr<MetricsHttpServer> http_;  // renders from the members above
  std::string listen_address_;
  std::string token_;  // for the in-process channel only; never logged
  std::atomic<bool> shut_down_{false};
};

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlaneImpl::Create(
    const ControlPlaneOptions& options) {
  std::unique_ptr<ControlPlaneImpl> cp(new ControlPlaneImpl());
  const EnvLookup env = ProcessEnv();

  // Security first: nothing beyond loopback without a token.
  std::optional<HostPort> listen;
  if (!options.listen.empty()) {
    ASSIGN_OR_RETURN(listen, SplitHostPort(options.listen));
    if (!IsLoopback(*listen) && options.token_file.empty()) {
      return absl::InvalidArgumentError(
          StrCat("listening on ", options.listen,
                 " (not loopback) requires a token (--token-file); add TLS (--tls-cert, "
                 "--tls-key) for traffic across hosts"));
    }
  }
  if (!options.token_file.empty()) {
    ASSIGN_OR_RETURN(common::Secret token, ReadTokenFile(options.token_file));
    cp->token_ = std::string(token.Reveal());
    std::optional<common::Secret> read_only;
    if (!options.read_only_token_file.empty()) {
      ASSIGN_OR_RETURN(read_only, ReadTokenFile(options.read_only_token_file));
      if (read_only->Matches(token.Reveal())) {
        return absl::InvalidArgumentError(
            "the read-only token (--read-only-token-file) must differ from the admin token");
      }
    }
    cp->auth_ = CallAuthenticator(std::move(token), std::move(read_only));
  } else if (!options.read_only_token_file.empty()) {
    return absl::InvalidArgumentError(
        "a read-only token (--read-only-token-file) needs the admin token (--token-file): "
        "without it every caller is admin");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate and a key (--tls-cert, --tls-key)");
  }
  if (!options.tls_client_ca_file.empty() && options.tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "client certificates (--tls-client-ca) need a server certificate (--tls-cert, --tls-key)");
  }

  // Config + runtime state.
  std::string config_path = options.config_path;
  if (config_path.empty()) {
    const std::string def = DefaultConfigPath(env);
    std::error_code ec;
    if (!def.empty() && std::filesystem::exists(def, ec)) {
      config_path = def;
    }
  }
  // The database of teammates and usage; the users go into the first snapshot.
  std::string db_path = DatabasePath(options.db_path, config_path, env);
  absl::StatusOr<std::unique_ptr<TeamStore>> team_store = OpenDatabase(db_path);
  std::error_code exists_ec;
  if (!team_store.ok() && options.db_path.empty() && db_path != ":memory:" &&
      !std::filesystem::exists(db_path, exists_ec)) {
    // Choice: the default place cannot take a new database (a read-only config mount, a
    // read-only container): the control plane still starts, with the database in memory, and
    // says so. An explicit --db, or an existing file that does not open, stops the start.
    CCR_LOG(kWarn, "database_unavailable", Q("db", db_path),
            Q("error", team_store.status().message()),
            Q("hint", "users and usage last until the process ends; give --db FILE"));
    db_path = ":memory:";
    team_store = OpenDatabase(db_path);
  }
  if (!team_store.ok()) {
    return team_store.status();
  }
  cp->team_store_ = *std::move(team_store);
  ConfigStore::Options so;
  ASSIGN_OR_RETURN(so.users, UsersService::LoadUsersSection(*cp->team_store_));
  so.config_path = config_path;
  so.state_file = options.state_file;
  if (so.state_file.empty() && !config_path.empty()) {
    so.state_file = StrCat(config_path, ".state.json");
  }
  so.env = env;
  ASSIGN_OR_RETURN(cp->store_, ConfigStore::Create(so, &cp->cache_));
  if (options.on_config_loaded) {
    if (const SnapshotConstSharedPtr loaded = cp->cache_.Current(); loaded != nullptr) {
      options.on_config_loaded(*loaded);
    }
  }

  // Providers without keys whose credentials the control plane mints (the registry of types is
  // credentials::BuiltinMinters): the first resolution happens now, so that the first snapshot
  // a data plane gets carries the credentials.
  credentials::MintedKeys::Deps mkd;
  mkd.minters = credentials::BuiltinMinters(
      [env](const std::string& name) { return env(name); }, &common::RealClock::Get());
  mkd.on_change = [cache = &cp->cache_] { cache->Republish(); };
  cp->minted_keys_ = std::make_unique<credentials::MintedKeys>(std::move(mkd));
  if (const SnapshotConstSharedPtr loaded = cp->cache_.Current(); loaded != nullptr) {
    cp->minted_keys_->Sync(*loaded);
  }

  // Active health checks (SPEC.md, Key pools): a changed verdict republishes the snapshot.
  HealthChecker::Deps hd;
  hd.current = [cache = &cp->cache_, keys = cp->minted_keys_.get()] {
    return WithMintedKeys(*keys, cache->Current());
  };
  hd.on_change = [cache = &cp->cache_] { return cache->Republish(); };
  hd.clock = &common::RealClock::Get();
  cp->health_ = std::make_unique<HealthChecker>(std::move(hd));

  // Every data plane gets the minted keys; several data planes, one key: each connected data
  // plane gets an equal share of every key limit, re-divided when one connects or disconnects
  // (SPEC.md, Key pools); every data plane gets the health checks' verdicts; none gets what
  // only the control plane holds (token_source).
  cp->cache_.SetNodeHook([registry = &cp->registry_, health = cp->health_.get(),
                          keys = cp->minted_keys_.get()](const std::string&,
                                                         ccrelay::v1::RoutingSnapshot* snapshot) {
    ApplyDataPlaneView(keys, registry->connected_count(), health, snapshot);
  });
  DataPlaneSyncService::Deps sd;
  sd.cache = &cp->cache_;
  sd.registry = &cp->registry_;
  sd.stats = &cp->stats_;
  sd.latency = &cp->latency_;
  sd.auth = &cp->auth_;
  sd.clock = &common::RealClock::Get();
  // Usage batches go to the database (acknowledged once committed) and budgets are shared out
  // as grants (SPEC.md 13, "Usage ingestion and acknowledgement", "Budgets").
  sd.store = cp->team_store_.get();
  // 0 and 1 data planes get the same (whole) limits: only a change of the divisor republishes.
  sd.on_membership_change = [cache = &cp->cache_, registry = &cp->registry_,
                             divisor = std::make_shared<std::atomic<size_t>>(1)] {
    const size_t n = std::max<size_t>(1, registry->connected_count());
    if (divisor->exchange(n) == n) {
      return;
    }
    const SnapshotConstSharedPtr current = cache->Current();
    if (current != nullptr && HasLimits(*current)) {
      cache->Republish();
    }
  };
  // A data plane's report of a refused key or a failing provider/key gets it checked at once:
  // the verdict then reaches every data plane. (A cooldown is not checked: probing a key that
  // is being rate limited would only add to its load.)
  sd.on_health = [health = cp->health_.get(),
                  keys = cp->minted_keys_.get()](const ccrelay::v1::HealthReport& report) {
    for (const ccrelay::v1::HealthObservation& o : report.observations()) {
      if (o.state() == "disabled" || o.state() == "failing") {
        health->CheckSoon(o.provider(), o.key_fingerprint());
        // A minted key the upstream refused (an expired or revoked session or token): a new
        // credential now.
        if (o.state() == "disabled") {
          keys->RefreshSoon(o.provider());
        }
      }
    }
  };
  cp->sync_ = std::make_unique<DataPlaneSyncService>(sd);
  UsersService::Deps ud;
  ud.store = cp->team_store_.get();
  ud.config = cp->store_.get();
  ud.cache = &cp->cache_;
  ud.clock = &common::RealClock::Get();
  cp->users_ = std::make_unique<UsersService>(ud);
  // A relay key presented to the Management API (WhoAmI, GetUsage): looked up among the users
  // of the snapshot in force, every hash compared in constant time.
  cp->auth_.SetUserLookup([cache = &cp->cache_](std::string_view sha) {
    std::optional<KeyOwner> owner;
    const SnapshotConstSharedPtr current = cache->Current();
    if (current == nullptr || sha.size() != 32) {
      return owner;
    }
    for (const ccrelay::v1::RelayUser& u : current->users().users()) {
      if (u.key_sha256().size() == sha.size() &&
          CRYPTO_memcmp(u.key_sha256().data(), sha.data(), sha.size()) == 0) {
        owner = KeyOwner{u.name(), u.enabled()};
      }
    }
    return owner;
  });
  ManagementService::Deps md;
  md.users = cp->users_.get();
  md.store = cp->store_.get();
  md.cache = &cp->cache_;
  md.registry = &cp->registry_;
  md.stats = &cp->stats_;
  md.auth = &cp->auth_;
  md.clock = &common::RealClock::Get();
  md.env = env;
  md.checks = cp->health_.get();
  md.minted_keys = cp->minted_keys_.get();
  md.admin_token = cp->token_;
  cp->management_ = std::make_unique<ManagementService>(std::move(md));

  // The HTTP listener is bound before the gRPC server starts, so that a failure leaves no
  // "listening" line behind; it logs its own line after the gRPC one.
  if (!options.http_listen.empty()) {
    ControlPlaneImpl* self = cp.get();
    webui::WebUi::Deps wd;
    wd.channel = [self] {
      absl::MutexLock lock(&self->ui_channel_mu_);
      return self->ui_channel_;
    };
    wd.clock = &common::RealClock::Get();
    cp->webui_ = std::make_unique<webui::WebUi>(std::move(wd));
    ASSIGN_OR_RETURN(
        cp->http_,
        MetricsHttpServer::Start(
            options.http_listen, [self] { return self->RenderMetrics(); },
            [ui = cp->webui_.get()](const HttpRequest& req, HttpResponder& out) {
              return ui->Handle(req, out);
            },
            MetricsHttpServer::Tls{options.http_tls_cert_file, options.http_tls_key_file}));
  }

  grpc::ServerBuilder builder;
  int selected_port = 0;
  if (listen.has_value()) {
    std::shared_ptr<grpc::ServerCredentials> creds;
    if (!options.tls_cert_file.empty()) {
      grpc::SslServerCredentialsOptions ssl(
          options.tls_client_ca_file.empty()
              ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
      grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
      ASSIGN_OR_RETURN(pair.private_key, ReadWholeFile(options.tls_key_file, "TLS key"));
      ASSIGN_OR_RETURN(pair.cert_chain, ReadWholeFile(options.tls_cert_file, "TLS certificate"));
      ssl.pem_key_cert_pairs.push_back(std::move(pair));
      if (!options.tls_client_ca_file.empty()) {
        ASSIGN_OR_RETURN(ssl.pem_root_certs,
                         ReadWholeFile(options.tls_client_ca_file, "TLS client CA"));
      }
      creds = grpc::SslServerCredentials(ssl);
    } else {
      creds = grpc::InsecureServerCredentials();
    }
    builder.AddListeningPort(options.listen, creds, &selected_port);
  }
  // Notice dead data planes (host gone, no RST) and let them keep their streams alive.
  // No SO_REUSEPORT: a second control plane on the same address must fail to bind, not split
  // the data planes between two processes.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.RegisterService(cp->sync_->service());
  builder.RegisterService(cp->management_->service());
  cp->server_ = builder.BuildAndStart();
  if (cp->server_ == nullptr || (listen.has_value() && selected_port == 0)) {
    return absl::UnavailableError(
        StrCat("cannot listen on ", options.listen, " (address in use, or not an address here)"));
  }
  {
    absl::MutexLock lock(&cp->ui_channel_mu_);
    cp->ui_channel_ = cp->server_->InProcessChannel(grpc::ChannelArguments());
  }
  if (listen.has_value()) {
    cp->listen_address_ = listen->ipv6 ? StrCat("[", listen->host, "]:", selected_port)
                                       : StrCat(listen->host, ":", selected_port);
    // Always printed, whatever the level: scripts and tests wait for this line.
    common::LogLine(common::LogLevel::kInfo, "control_plane_listening",
                    {F("address", cp->listen_address_), F("tls", !options.tls_cert_file.empty()),
                     F("client_certs", !options.tls_client_ca_file.empty()),
                     F("token", cp->auth_.enabled()), F("version", cp->cache_.version())});
  }

  if (cp->http_ != nullptr) {
    // Always printed, whatever the level: scripts and tests wait for this line.
    common::LogLine(common::LogLevel::kInfo, "control_plane_http_listening",
                    {F("address", cp->http_->address()), F("tls", cp->http_->tls())});
  }

  if (options.watch_config && !config_path.empty()) {
    ConfigStore* store = cp->store_.get();
    auto watcher = ConfigWatcher::Start(config_path, kReloadDebounce, [store] {
      // A rejected file is logged and kept in the status by the store.
      (void)store->ReloadIfChanged();
    });
    if (watcher.ok()) {
      cp->watcher_ = *std::move(watcher);
    } else {
      CCR_LOG(kWarn, "config_watch_unavailable", Q("error", watcher.status().message()),
              Q("hint", "reload with SIGHUP or cc-relayctl config reload"));
    }
  }
  cp->health_->Start();
  cp->health_watcher_ = std::make_unique<HealthConfigWatcher>(cp->health_.get());
  cp->cache_.Watch(cp->health_watcher_.get());
  cp->minted_watcher_ = std::make_unique<MintedKeysWatcher>(cp->minted_keys_.get());
  cp->cache_.Watch(cp->minted_watcher_.get());
  CCR_LOG(kInfo, "control_plane_started",
          Q("config", config_path.empty() ? std::string("built-in default") : config_path),
          Q("state_file", so.state_file), Q("db", db_path), F("users", so.users.users_size()),
          F("version", cp->cache_.version()));
  return std::unique_ptr<ControlPlane>(std::move(cp));
}

void ControlPlaneImpl::Shutdown() {
  if (shut_down_.exchange(true)) {
    return;
  }
  http_.reset();
  {
    absl::MutexLock lock(&ui_channel_mu_);
    ui_channel_.reset();
  }
  watcher_.reset();
  if (health_watcher_ != nullptr) {
    cache_.Cancel(health_watcher_.get());
  }
  if (health_ != nullptr) {
    health_->Stop();
  }
  if (minted_watcher_ != nullptr) {
    cache_.Cancel(minted_watcher_.get());
  }
  if (minted_keys_ != nullptr) {
    minted_keys_->Stop();
  }
  if (server_ == nullptr) {
    return;  // Start failed before the server ran
  }
  management_->Shutdown();
  sync_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server_->Wait();
  CCR_LOG(kInfo, "control_plane_stopped", F("version", cache_.version()));
}

std::string ControlPlaneImpl::RenderMetrics() const {
  using stats::Label;
  using stats::MetricType;
  std::string out;
  stats::PrometheusTextWriter w(&out);
  w.Family("ccrelay_build_info", "cc-relay build; always 1", MetricType::kGauge);
  const Label version[] = {{"version", CCR_VERSION}};
  w.Sample("ccrelay_build_info", version, 1);
  w.Family("ccrelay_snapshot_version", "Routing snapshot version published", MetricType::kGauge);
  w.Sample("ccrelay_snapshot_version", {}, static_cast<double>(cache_.version()));
  w.Family("ccrelay_data_planes", "Data planes by state", MetricType::kGauge);
  const Label connected[] = {{"state", "connected"}};
  w.Sample("ccrelay_data_planes", connected, static_cast<double>(registry_.connected_count()));
  const ConfigStatusInfo status = store_->Status();
  w.Family("ccrelay_config_reloads_total", "Config file reloads by outcome", MetricType::kCounter);
  const Label ok[] = {{"outcome", "ok"}};
  const Label rejected[] = {{"outcome", "rejected"}};
  w.Sample("ccrelay_config_reloads_total", ok, static_cast<double>(status.reloads_ok));
  w.Sample("ccrelay_config_reloads_total", rejected, static_cast<double>(status.reloads_rejected));

  // The usage database's ingestion (section 13).
  const UsageWriterCounters usage = sync_->usage_counters();
  w.Family("ccrelay_usage_batches_committed_total",
           "Usage batches committed to the usage database", MetricType::kCounter);
  w.Sample("ccrelay_usage_batches_committed_total", {}, static_cast<double>(usage.batches_committed));
  w.Family("ccrelay_usage_records_total",
           "Usage records committed: added, or skipped as resends the database had",
           MetricType::kCounter);
  const Label added[] = {{"outcome", "added"}};
  const Label resent[] = {{"outcome", "resent"}};
  w.Sample("ccrelay_usage_records_total", added, static_cast<double>(usage.records_added));
  w.Sample("ccrelay_usage_records_total", resent, static_cast<double>(usage.records_resent));
  w.Family("ccrelay_usage_requests_committed_total",
           "Requests counted in the usage database since the control plane started",
           MetricType::kCounter);
  w.Sample("ccrelay_usage_requests_committed_total", {}, static_cast<double>(usage.requests_added));
  w.Family("ccrelay_usage_commit_failures_total",
           "Usage batches whose commit failed (the data plane resends them)", MetricType::kCounter);
  w.Sample("ccrelay_usage_commit_failures_total", {}, static_cast<double>(usage.commit_failures));
  w.Family("ccrelay_usage_batches_dropped_total",
           "Usage batches not written (writer queue full, or after a failed commit of their "
           "stream); their data plane resends them",
           MetricType::kCounter);
  w.Sample("ccrelay_usage_batches_dropped_total", {}, static_cast<double>(usage.batches_dropped));
  w.Family("ccrelay_budget_grant_sets_sent_total",
           "Budget grant sets sent to data planes", MetricType::kCounter);
  w.Sample("ccrelay_budget_grant_sets_sent_total", {}, static_cast<double>(usage.grant_sets_sent));

  // Totals the data planes reported, for the providers of the config in force.
  KeyUsage sum;
  std::vector<std::pair<std::string, uint64_t>> requests;
  if (const auto snapshot = cache_.Current(); snapshot != nullptr) {
    for (const auto& provider : snapshot->providers()) {
      const KeyUsage u = stats_.Provider(provider.name());
      requests.emplace_back(provider.name(), u.requests);
      sum.input_tokens += u.input_tokens;
      sum.output_tokens += u.output_tokens;
      sum.cache_read_tokens += u.cache_read_tokens;
      sum.cache_creation_tokens += u.cache_creation_tokens;
    }
  }
  std::sort(requests.begin(), requests.end());
  if (!requests.empty()) {
    w.Family("ccrelay_aggregated_requests_total",
             "Requests reported by every data plane since the control plane started",
             MetricType::kCounter);
    for (const auto& [name, count] : requests) {
      const Label provider[] = {{"provider", name}};
      w.Sample("ccrelay_aggregated_requests_total", provider, static_cast<double>(count));
    }
  }
  w.Family("ccrelay_aggregated_tokens_total",
           "Tokens reported by every data plane since the control plane started",
           MetricType::kCounter);
  const std::pair<std::string_view, uint64_t> tokens[] = {
      {"cache_creation", sum.cache_creation_tokens},
      {"cache_read", sum.cache_read_tokens},
      {"input", sum.input_tokens},
      {"output", sum.output_tokens}};
  for (const auto& [type, count] : tokens) {
    const Label label[] = {{"type", type}};
    w.Sample("ccrelay_aggregated_tokens_total", label, static_cast<double>(count));
  }

  // Active health checks.
  const HealthChecker::Counts counts = health_->counts();
  w.Family("ccrelay_health_checks_total", "Active health check probes by verdict",
           MetricType::kCounter);
  const std::pair<std::string_view, uint64_t> verdicts[] = {
      {"auth_failed", counts.auth_failed}, {"failure", counts.failure}, {"ok", counts.ok}};
  for (const auto& [verdict, count] : verdicts) {
    const Label label[] = {{"verdict", verdict}};
    w.Sample("ccrelay_health_checks_total", label, static_cast<double>(count));
  }
  const auto checked = health_->All();
  if (!checked.empty()) {
    w.Family("ccrelay_health_check_healthy",
             "1 when the health check verdict of a key (key - : the provider as a whole) is "
             "healthy, 0 when unhealthy or auth_failed",
             MetricType::kGauge);
    for (const auto& [target, h] : checked) {
      if (h.state() == ccrelay::v1::CheckedHealth::UNKNOWN) {
        continue;
      }
      const std::string_view key =
          target.second.empty() ? std::string_view("-") : std::string_view(target.second);
      const Label labels[] = {{"provider", target.first}, {"key", key}};
      w.Sample("ccrelay_health_check_healthy", labels,
               h.state() == ccrelay::v1::CheckedHealth::HEALTHY ? 1.0 : 0.0);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Start(
    const ControlPlaneOptions& options) {
  return ControlPlaneImpl::Create(options);
}

}  // namespace ccrelay::controlplane
