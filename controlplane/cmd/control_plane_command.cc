#include "controlplane/cmd/control_plane_command.h"

#include <csignal>
#include <cstdio>
#include <span>
#include <string>

#include "absl/strings/match.h"
#include <pthread.h>

#include "proto/snapshot.pb.h"

#include "controlplane/control_plane.h"
#include "dataplane/common/flag_parser.h"
#include "dataplane/common/log.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane {
namespace {

constexpr std::string_view kHelp =
    R"(Run the control plane: config, hot reload, runtime changes, data-plane sync.

Usage:
  cc-relay control-plane [--config PATH] [--listen HOST:PORT] [--http-listen HOST:PORT]
                         [--http-tls-cert FILE --http-tls-key FILE]
                         [--token-file FILE] [--read-only-token-file FILE]
                         [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
                         [--state-file FILE] [--db FILE] [--no-watch]
                         [--log-level L] [--log-format F]

Flags:
  --config PATH         Config file (default: $XDG_CONFIG_HOME/cc-relay/config.yaml, else
                        ~/.config/cc-relay/config.yaml, else the built-in default)
  --listen HOST:PORT    gRPC address for data planes and cc-relayctl (default 127.0.0.1:8788;
                        port 0 picks a free port). Anything but loopback needs --token-file.
  --http-listen HOST:PORT
                        HTTP for GET /metrics (Prometheus), GET /health and the web
                        dashboard /ui/ (plaintext: served on loopback only) (default
                        127.0.0.1:8789; port 0 picks a free port; "none" = off). When the
                        default port is taken, the control plane goes on without it, and says so.
  --http-tls-cert FILE  HTTPS on that listener (certificate chain, PEM), with --http-tls-key
                        FILE; then the dashboard serves on any address (e.g. 0.0.0.0:8789)
  --http-tls-key FILE   Its private key (PEM)
  --token-file FILE     Shared token (first line); every call must send
                        "authorization: Bearer <token>". It is the admin token: data planes
                        and cc-relayctl with it may do everything
  --read-only-token-file FILE
                        A second token (first line) for reads only: list, get, watch, show,
                        validate, usage (needs --token-file). A teammate's relay key may call
                        only whoami and usage (its own)
  --tls-cert FILE       Server certificate (PEM), with --tls-key FILE
  --tls-key FILE        Server private key (PEM)
  --tls-client-ca FILE  Require and verify client certificates signed by this CA (mTLS)
  --state-file FILE     Where runtime changes persist (default: <config>.state.json)
  --db FILE             Teammates and usage (SQLite; default: <config>.db, with the built-in
                        config $XDG_STATE_HOME/cc-relay/cc-relay.db; "none" = in memory)
  --no-watch            Do not watch the config file (reload with SIGHUP or the API only)
  --log-level LEVEL     debug | info | warn | error (overrides logging.level)
  --log-format FORMAT   text | json (overrides logging.format)
  -h, --help            Help for control-plane

Logs "control_plane_listening address=HOST:PORT" once bound (and
"control_plane_http_listening address=HOST:PORT tls=true|false" for the HTTP listener).
Signals: SIGTERM/SIGINT stop (data planes keep serving their last snapshot); SIGHUP reloads
the config file (an invalid file is rejected whole and the running config stays).
)";

constexpr std::string_view kDefaultHttpListen = "127.0.0.1:8789";

struct Flags {
  ControlPlaneOptions options;
  bool http_listen_given = false;
  std::string log_level;
  std::string log_format;
  bool help = false;
  std::string error;
};

Flags Parse(const std::vector<std::string_view>& args) {
  Flags f;
  f.options.http_listen = std::string(kDefaultHttpListen);
  common::FlagParser parser({.operands = common::Operands::kRejected, .help_word = true});
  parser.String("--config", &f.options.config_path);
  parser.Alias("-c", "--config");
  parser.String("--listen", &f.options.listen);
  parser.Custom("--http-listen", [&f](std::string_view v) {
    f.options.http_listen = std::string(v);
    f.http_listen_given = true;
    return v.empty() ? absl::InvalidArgumentError("--http-listen needs an address (or \"none\")")
                     : absl::OkStatus();
  });
  parser.String("--http-tls-cert", &f.options.http_tls_cert_file);
  parser.String("--http-tls-key", &f.options.http_tls_key_file);
  parser.String("--token-file", &f.options.token_file);
  parser.String("--tls-cert", &f.options.tls_cert_file);
  parser.String("--tls-key", &f.options.tls_key_file);
  parser.String("--tls-client-ca", &f.options.tls_client_ca_file);
  parser.String("--state-file", &f.options.state_file);
  parser.String("--read-only-token-file", &f.options.read_only_token_file);
  parser.Custom("--db", [&f](std::string_view v) {
    f.options.db_path = std::string(v);
    return v.empty() ? absl::InvalidArgumentError("--db needs a file (or \"none\")")
                     : absl::OkStatus();
  });
  bool no_watch = false;
  parser.Bool("--no-watch", &no_watch);
  parser.String("--log-level", &f.log_level);
  parser.String("--log-format", &f.log_format);
  f.error = std::string(parser.Parse(std::span(args).subspan(2)).message());
  f.help = parser.help();
  f.options.watch_config = !no_watch;
  if (f.error.empty() && !f.help && f.options.listen.empty()) {
    f.error = "--listen needs an address";
  }
  if (f.error.empty() &&
      f.options.http_tls_cert_file.empty() != f.options.http_tls_key_file.empty()) {
    f.error = "--http-tls-cert and --http-tls-key go together";
  }
  if (f.options.http_listen == "none") {
    f.options.http_listen.clear();
  }
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
  return f;
}

}  // namespace

int RunControlPlaneCommand(const std::vector<std::string_view>& args) {
  Flags f = Parse(args);
  if (f.help) {
    std::fputs(kHelp.data(), stdout);
    return 0;
  }
  if (!f.error.empty()) {
    std::fprintf(stderr, "error: %s\n\n%s", f.error.c_str(), kHelp.data());
    return 2;
  }
  common::ApplyLogSettings(f.log_level, f.log_format);

  // Signals are taken by sigwait below; block them before any thread starts so that none of
  // gRPC's threads gets them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The config's logging section (unless a flag says otherwise) before the first line about it.
  f.options.on_config_loaded = [&f](const ccrelay::v1::RoutingSnapshot& s) {
    common::ApplyLogSettings(f.log_level.empty() ? s.logging().level() : f.log_level,
                             f.log_format.empty() ? s.logging().format() : f.log_format);
  };
  auto cp = ControlPlane::Start(f.options);
  if (!cp.ok() && absl::IsUnavailable(cp.status()) && !f.http_listen_given &&
      absl::StrContains(cp.status().message(), "(HTTP)")) {
    // The default HTTP port is taken (another control plane?): metrics are not worth failing for.
    CCR_LOG(kWarn, "control_plane_http_listen_failed", common::Q("address", kDefaultHttpListen),
            common::Q("error", cp.status().message()),
            common::Q("hint", "this control plane serves no /metrics; pass --http-listen"));
    f.options.http_listen.clear();
    cp = ControlPlane::Start(f.options);
  }
  if (!cp.ok()) {
    // One line per problem (config errors are file:line:col: key: message).
    std::fprintf(stderr, "%s\nerror: the control plane did not start\n",
                 std::string(cp.status().message()).c_str());
    return 1;
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) {
      continue;
    }
    if (sig == SIGHUP) {
      CCR_LOG(kInfo, "reload_requested", common::F("signal", "SIGHUP"));
      (void)(*cp)->Reload();  // a rejected file is logged by the control plane
      continue;
    }
    CCR_LOG(kInfo, "shutdown_requested", common::F("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"));
    break;
  }
  (*cp)->Shutdown();
  return 0;
}

}  // namespace ccrelay::controlplane
