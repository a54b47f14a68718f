#include "controlplane/cmd/data_plane_command.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <span>
#include <string>

#include "absl/strings/match.h"
#include <unistd.h>

#include "proto/snapshot.pb.h"

#include "controlplane/control_plane.h"
#include "dataplane/common/flag_parser.h"
#include "dataplane/common/log.h"
#include "dataplane/common/str.h"
#include "dataplane/common/token_file.h"
#include "dataplane/subscription/control_plane_channel.h"
#include "dataplane/subscription/subscribed_data_plane.h"

namespace ccrelay::controlplane {
namespace {

using common::F;
using common::Q;
using common::StrCat;

constexpr std::string_view kServeHelp =
    R"(Start the relay: the control plane and one data plane in one process.

Usage:
  cc-relay serve [--config PATH] [--listen HOST:PORT] [--control-plane-listen HOST:PORT]
                 [--control-plane-http-listen HOST:PORT]
                 [--http-tls-cert FILE --http-tls-key FILE]
                 [--token-file FILE] [--read-only-token-file FILE] [--db FILE]
                 [--state-file FILE] [--admin-listen HOST:PORT] [--workers N]
                 [--log-level LEVEL] [--log-format FORMAT]

Flags:
  --config PATH        Config file (default: $XDG_CONFIG_HOME/cc-relay/config.yaml, else
                       ~/.config/cc-relay/config.yaml; with no file at all, a built-in default
                       forwards each client's own Anthropic credentials to api.anthropic.com)
  --listen HOST:PORT   Override server.listen (port 0 picks a free port)
  --control-plane-listen HOST:PORT
                       gRPC for cc-relayctl and extra data planes (default 127.0.0.1:8788; port 0
                       picks a free port; "none" = in-process only). When the default port is
                       taken, serve goes on with the in-process channel only, and says so.
  --control-plane-http-listen HOST:PORT
                       The control plane's GET /metrics, GET /health and web dashboard /ui/
                       (plaintext: loopback only) (default 127.0.0.1:8789; port 0 picks a free
                       port; "none" = off). When the default port is taken,
                       serve goes on without it, and says so.
  --http-tls-cert FILE HTTPS on that listener (certificate chain, PEM), with --http-tls-key
                       FILE; then the dashboard serves on any address (e.g. 0.0.0.0:8789)
  --http-tls-key FILE  Its private key (PEM)
  --token-file FILE    Shared token for that gRPC listener (required beyond loopback): admin
  --read-only-token-file FILE
                       A token for reads only (list, get, watch, show, usage); needs
                       --token-file. A teammate's relay key may read only its own usage
  --db FILE            Teammates and usage (SQLite; default: <config>.db, with the built-in
                       config $XDG_STATE_HOME/cc-relay/cc-relay.db; "none" = in memory)
  --state-file FILE    Where runtime changes (keys added, rotated, disabled) persist (default:
                       <config>.state.json)
  --admin-listen ADDR  The data plane's admin API (default 127.0.0.1:0; "none" = off)
  --workers N          Worker threads (default: server.workers, else one per core)
  --log-level LEVEL    debug | info | warn | error (overrides logging.level)
  --log-format FORMAT  text | json (overrides logging.format)
  -h, --help           Help for serve

The config file is watched and reloaded on change. Signals: SIGTERM/SIGINT drain and stop;
SIGHUP reloads the config file (rejected whole on any error; the running config stays).
)";

constexpr std::string_view kDataPlaneHelp =
    R"(Run a data plane fed by a remote control plane (no config file needed).

Usage:
  cc-relay data-plane --control-plane HOST:PORT [--listen HOST:PORT] [--token-file FILE]
                      [--admin-listen HOST:PORT] [--id ID] [--label KEY=VALUE]...
                      [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]]
                      [--insecure] [--workers N] [--metrics-listen HOST:PORT]
                      [--log-level LEVEL] [--log-format FORMAT]

Flags:
  --control-plane ADDR  The control plane's gRPC address (required)
  --listen HOST:PORT    Client API (default 127.0.0.1:8787; port 0 picks a free port)
  --token-file FILE     Shared token, sent as "authorization: Bearer <token>" (also required
                        by the admin API when it listens beyond loopback)
  --admin-listen ADDR   Admin API for cc-relayctl dataplane status|drain (default 127.0.0.1:0;
                        "none" = off)
  --id ID               Data plane id (default: hostname-pid-random)
  --label KEY=VALUE     Label sent to the control plane (repeatable)
  --tls-ca FILE         CA bundle (PEM) to verify the control plane: TLS
  --tls-cert FILE       Client certificate (PEM) for mTLS, with --tls-key FILE
  --tls-server-name N   Name to check in the control plane's certificate
  --insecure            Allow plaintext to a non-loopback control plane
  --workers N           Worker threads (default: one per core)
  --metrics-listen ADDR A second listener serving only /metrics and /health
  --log-level LEVEL     debug | info | warn | error (default: the snapshot's logging.level)
  --log-format FORMAT   text | json (default: the snapshot's logging.format)
  -h, --help            Help for data-plane

Until its first snapshot arrives it answers 503. When the control plane goes away it keeps
serving its last snapshot and reconnects with jittered backoff (100 ms up to 10 s).
Signals: SIGTERM/SIGINT drain and stop.
)";

struct Flags {
  std::string config;
  std::string listen;
  std::string control_plane;  // data-plane: remote address; serve: --control-plane-listen
  bool control_plane_listen_given = false;
  std::string control_plane_http = "127.0.0.1:8789";  // serve: --control-plane-http-listen
  bool control_plane_http_given = false;
  std::string http_tls_cert;  // serve: the control plane's HTTP listener
  std::string http_tls_key;
  std::string token_file;
  std::string read_only_token_file;  // serve
  std::string db;                    // serve
  std::string state_file;            // serve
  std::string admin_listen = "127.0.0.1:0";
  std::string id;
  std::map<std::string, std::string> labels;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  bool insecure = false;
  std::string metrics_listen;
  std::string log_level;
  std::string log_format;
  unsigned workers = 0;
  bool help = false;
  std::string error;
};

Flags Parse(const std::vector<std::string_view>& args, bool serve) {
  Flags f;
  if (serve) {
    f.control_plane = "127.0.0.1:8788";
  }
  common::FlagParser parser({.operands = common::Operands::kRejected, .help_word = true});
  parser.String("--listen", &f.listen);
  parser.String("--token-file", &f.token_file);
  parser.String("--admin-listen", &f.admin_listen);
  parser.Uint("--workers", &f.workers, "--workers needs a number");
  parser.String("--log-level", &f.log_level);
  parser.String("--log-format", &f.log_format);
  if (serve) {
    parser.String("--config", &f.config);
    parser.Alias("-c", "--config");
    parser.String("--read-only-token-file", &f.read_only_token_file);
    parser.Custom("--state-file", [&f](std::string_view v) {
      f.state_file = std::string(v);
      return v.empty() ? absl::InvalidArgumentError("--state-file needs a file")
                       : absl::OkStatus();
    });
    parser.Custom("--db", [&f](std::string_view v) {
      f.db = std::string(v);
      return v.empty() ? absl::InvalidArgumentError("--db needs a file (or \"none\")")
                       : absl::OkStatus();
    });
    parser.Custom("--control-plane-listen", [&f](std::string_view v) {
      f.control_plane = std::string(v);
      f.control_plane_listen_given = true;
      return absl::OkStatus();
    });
    parser.Custom("--control-plane-http-listen", [&f](std::string_view v) {
      f.control_plane_http = std::string(v);
      f.control_plane_http_given = true;
      return v.empty() ? absl::InvalidArgumentError(
                             "--control-plane-http-listen needs an address (or \"none\")")
                       : absl::OkStatus();
    });
    parser.String("--http-tls-cert", &f.http_tls_cert);
    parser.String("--http-tls-key", &f.http_tls_key);
  } else {
    parser.String("--control-plane", &f.control_plane);
    parser.String("--id", &f.id);
    parser.Custom("--label", [&f](std::string_view v) {
      const size_t eq = v.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        return absl::InvalidArgumentError(StrCat("--label needs KEY=VALUE, got \"", v, "\""));
      }
      f.labels[std::string(v.substr(0, eq))] = std::string(v.substr(eq + 1));
      return absl::OkStatus();
    });
    parser.String("--tls-ca", &f.tls_ca);
    parser.String("--tls-cert", &f.tls_cert);
    parser.String("--tls-key", &f.tls_key);
    parser.String("--tls-server-name", &f.tls_server_name);
    parser.Bool("--insecure", &f.insecure);
    parser.String("--metrics-listen", &f.metrics_listen);
  }
  f.error = std::string(parser.Parse(std::span(args).subspan(2)).message());
  f.help = parser.help();
  if (f.error.empty() && !f.log_level.empty()) {
    common::LogLevel lv;
    if (!common::ParseLogLevel(f.log_level, &lv)) {
      f.error = "--log-level must be debug, info, warn or error";
    }
  }
  if (f.error.empty() && !f.log_format.empty() && f.log_format != "text" &&
      f.log_format != "json") {
    f.error = "--log-format must be text or json";
  }
  if (f.error.empty() && f.http_tls_cert.empty() != f.http_tls_key.empty()) {
    f.error = "--http-tls-cert and --http-tls-key go together";
  }
  if (f.error.empty() && !f.help && !serve && f.control_plane.empty()) {
    f.error = "--control-plane HOST:PORT is required";
  }
  if (f.admin_listen == "none") {
    f.admin_listen.clear();
  }
  return f;
}

std::string DefaultId() {
  std::array<char, 256> host{};
  std::string name = "dp";
  if (gethostname(host.data(), host.size() - 1) == 0 && host[0] != '\0') {
    name = host.data();
  }
  std::random_device rd;
  return StrCat(name, "-", static_cast<int64_t>(getpid()), "-",
                common::Hex(0x10000u | (rd() & 0xffffu)).substr(1));
}

int UsageError(const Flags& f, std::string_view help) {
  std::fprintf(stderr, "error: %s\n\n%.*s", f.error.c_str(), static_cast<int>(help.size()),
               help.data());
  return 2;
}

}  // namespace

int RunServeCommand(const std::vector<std::string_view>& args) {
  Flags f = Parse(args, /*serve=*/true);
  if (f.help) {
    std::fwrite(kServeHelp.data(), 1, kServeHelp.size(), stdout);
    return 0;
  }
  if (!f.error.empty()) {
    return UsageError(f, kServeHelp);
  }
  // Before any thread starts (gRPC's included): signals are taken by sigwait in Run().
  subscription::SubscribedDataPlane::BlockSignals();
  common::ApplyLogSettings(f.log_level, f.log_format);

  ControlPlaneOptions cpo;
  cpo.config_path = f.config;
  cpo.listen = f.control_plane == "none" ? std::string() : f.control_plane;
  cpo.token_file = f.token_file;
  cpo.read_only_token_file = f.read_only_token_file;
  cpo.db_path = f.db;
  cpo.state_file = f.state_file;
  cpo.http_listen = f.control_plane_http == "none" ? std::string() : f.control_plane_http;
  cpo.http_tls_cert_file = f.http_tls_cert;
  cpo.http_tls_key_file = f.http_tls_key;
  // The config's logging section (unless a flag says otherwise) before the first line about it.
  cpo.on_config_loaded = [&f](const ccrelay::v1::RoutingSnapshot& s) {
    common::ApplyLogSettings(f.log_level.empty() ? s.logging().level() : f.log_level,
                             f.log_format.empty() ? s.logging().format() : f.log_format);
  };
  auto cp = ControlPlane::Start(cpo);
  // A default port that is taken (another relay?) is not fatal: the relay itself still works.
  for (int attempt = 0; attempt < 2 && !cp.ok() && absl::IsUnavailable(cp.status()); ++attempt) {
    const bool http = absl::StrContains(cp.status().message(), "(HTTP)");
    if (http && !f.control_plane_http_given && !cpo.http_listen.empty()) {
      CCR_LOG(kWarn, "control_plane_http_listen_failed", Q("address", cpo.http_listen),
              Q("error", cp.status().message()),
              Q("hint", "the control plane serves no /metrics; pass --control-plane-http-listen"));
      cpo.http_listen.clear();
    } else if (!http && !f.control_plane_listen_given && !cpo.listen.empty()) {
      CCR_LOG(kWarn, "control_plane_listen_failed", Q("address", cpo.listen),
              Q("error", cp.status().message()),
              Q("hint", "cc-relayctl cannot reach this relay; pass --control-plane-listen"));
      cpo.listen.clear();
    } else {
      break;
    }
    cp = ControlPlane::Start(cpo);
  }
  if (!cp.ok()) {
    // Config errors come one per line, as file:line:col: key: message.
    std::fprintf(stderr, "%s\nerror: %s; the relay did not start\n",
                 std::string(cp.status().message()).c_str(),
                 absl::IsInvalidArgument(cp.status()) ? "the configuration is invalid"
                                                      : "the control plane cannot start");
    return 1;
  }
  ControlPlane* plane = cp->get();
  std::shared_ptr<const ccrelay::v1::RoutingSnapshot> snapshot = plane->CurrentSnapshot();

  subscription::SubscribedDataPlaneOptions o;
  o.data_plane.listen =
      !f.listen.empty() || snapshot == nullptr ? f.listen : snapshot->server().listen();
  o.data_plane.workers =
      f.workers != 0 || snapshot == nullptr ? f.workers : snapshot->server().workers();
  if (snapshot != nullptr) {
    o.data_plane.metrics_listen = snapshot->metrics().listen();
  }
  if (!f.token_file.empty()) {
    // The control plane accepted the file already; the in-process stream presents it too.
    o.subscription.token = common::ReadTokenFile(f.token_file).value_or("");
  }
  const std::string id = StrCat("serve-", static_cast<int64_t>(getpid()));
  o.subscription.id = id;
  o.subscription.control_plane = "in-process";
  o.channel_factory = [plane] { return plane->InProcessChannel(); };
  o.admin_listen = f.admin_listen;
  o.follow_snapshot_logging = f.log_level.empty() && f.log_format.empty();
  auto dp = subscription::SubscribedDataPlane::Create(std::move(o));
  if (!dp.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(dp.status().message()).c_str());
    plane->Shutdown();
    return 1;
  }
  // The first snapshot comes through the in-process channel; serve only once it is applied, so
  // the listening line means "ready".
  if (absl::Status st = (*dp)->WaitForFirstSnapshot(std::chrono::seconds(15)); !st.ok()) {
    std::fprintf(stderr, "error: the data plane cannot apply the configuration: %s\n",
                 std::string(st.message()).c_str());
    dp->reset();
    plane->Shutdown();
    return 1;
  }
  // cc-relayctl route explain for this data plane is answered in process.
  plane->SetLocalExplainer(id, [data_plane = dp->get()](const ccrelay::v1::ExplainRouteRequest& r,
                                                        ccrelay::v1::RouteExplanation* out) {
    return data_plane->ExplainRoute(r, out);
  });
  (*dp)->Run([plane] {
    CCR_LOG(kInfo, "reload_requested", F("signal", "SIGHUP"));
    (void)plane->Reload();  // a rejected file is logged by the control plane
  });
  plane->SetLocalExplainer(id, nullptr);
  dp->reset();
  plane->Shutdown();
  return 0;
}

int RunDataPlaneCommand(const std::vector<std::string_view>& args) {
  Flags f = Parse(args, /*serve=*/false);
  if (f.help) {
    std::fwrite(kDataPlaneHelp.data(), 1, kDataPlaneHelp.size(), stdout);
    return 0;
  }
  if (!f.error.empty()) {
    return UsageError(f, kDataPlaneHelp);
  }
  subscription::SubscribedDataPlane::BlockSignals();
  common::ApplyLogSettings(f.log_level, f.log_format);

  common::GrpcChannelOptions co;
  co.target = f.control_plane;
  co.tls_ca_file = f.tls_ca;
  co.tls_cert_file = f.tls_cert;
  co.tls_key_file = f.tls_key;
  co.tls_server_name = f.tls_server_name;
  co.insecure = f.insecure;
  auto factory = subscription::MakeControlPlaneChannelFactory(std::move(co));
  if (!factory.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(factory.status().message()).c_str());
    return 1;
  }
  subscription::SubscribedDataPlaneOptions o;
  if (!f.token_file.empty()) {
    auto token = common::ReadTokenFile(f.token_file);
    if (!token.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(token.status().message()).c_str());
      return 1;
    }
    o.subscription.token = *std::move(token);
  }
  o.data_plane.listen = f.listen.empty() ? std::string("127.0.0.1:8787") : f.listen;
  o.data_plane.workers = f.workers;
  o.data_plane.metrics_listen = f.metrics_listen;
  const std::string id = f.id.empty() ? DefaultId() : f.id;
  o.subscription.id = id;
  o.subscription.control_plane = f.control_plane;
  o.subscription.labels = f.labels;
  o.channel_factory = *std::move(factory);
  o.admin_listen = f.admin_listen;
  o.follow_snapshot_logging = f.log_level.empty() && f.log_format.empty();
  auto dp = subscription::SubscribedDataPlane::Create(std::move(o));
  if (!dp.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(dp.status().message()).c_str());
    return 1;
  }
  CCR_LOG(kInfo, "data_plane_started", F("id", id), F("control_plane", f.control_plane),
          F("admin_address",
            (*dp)->admin_address().empty() ? std::string("-") : (*dp)->admin_address()));
  (*dp)->Run(nullptr);
  return 0;
}

}  // namespace ccrelay::controlplane
