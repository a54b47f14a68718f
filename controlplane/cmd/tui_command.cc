#include "controlplane/cmd/tui_command.h"

#include <cstdio>
#include <span>
#include <string>

#include "controlplane/tui/tui_app.h"
#include "dataplane/common/flag_parser.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane {

namespace {

constexpr std::string_view kTuiHelp =
    R"(A live dashboard of the relay (providers, keys, recent requests).

Usage:
  cc-relay tui [--control-plane HOST:PORT] [--token-file PATH] [--tls-ca PEM] [--insecure]
               [--refresh-ms N]

Flags:
  --control-plane HOST:PORT  The control plane's gRPC address (default 127.0.0.1:8788;
                             `cc-relay serve --control-plane-listen` sets it)
  --token-file PATH          File whose first line is the control plane's shared token
  --tls-ca PEM               Verify the control plane's TLS certificate against these roots
  --insecure                 Allow plaintext gRPC to a non-loopback address
  --refresh-ms N             How often the stats refresh (default 500, at least 100)

Keys: q quit, ? help, up/down select a provider, e/d enable/disable it, r reload the config.
)";

}  // namespace

int RunTuiCommand(const std::vector<std::string_view>& args) {
  tui::TuiOptions o;
  common::FlagParser parser({.operands = common::Operands::kRejected, .help_word = true});
  parser.String("--control-plane", &o.control_plane);
  parser.String("--token-file", &o.token_file);
  parser.String("--tls-ca", &o.tls_ca_file);
  parser.Bool("--insecure", &o.insecure);
  parser.Custom("--refresh-ms", [&o](std::string_view v) {
    if (!common::ParseUint(v, &o.refresh_ms) || o.refresh_ms < 100 || o.refresh_ms > 60000) {
      return absl::InvalidArgumentError(
          "--refresh-ms: expected a number of milliseconds from 100 to 60000");
    }
    return absl::OkStatus();
  });
  std::string error(parser.Parse(std::span(args).subspan(2)).message());
  if (parser.help()) {
    std::fwrite(kTuiHelp.data(), 1, kTuiHelp.size(), stdout);
    return 0;
  }
  if (error.empty() && o.control_plane.empty()) {
    error = "--control-plane: expected HOST:PORT";
  }
  if (!error.empty()) {
    std::fprintf(stderr, "error: %s\n\n", error.c_str());
    std::fwrite(kTuiHelp.data(), 1, kTuiHelp.size(), stderr);
    return 2;
  }
  const absl::Status st = tui::RunTui(o);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace ccrelay::controlplane
