#include "controlplane/cmd/tui_command.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "controlplane/tui/tui_app.h"
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
  std::string error;
  for (size_t i = 2; i < args.size() && error.empty(); ++i) {
    const std::string_view a = args[i];
    const std::string_view name = a.substr(0, a.find('='));
    auto take = [&](std::string* out) {
      const size_t eq = a.find('=');
      if (eq != std::string_view::npos) {
        *out = std::string(a.substr(eq + 1));
      } else if (i + 1 < args.size()) {
        *out = std::string(args[++i]);
      } else {
        error = common::StrCat("flag ", a, " needs a value");
      }
    };
    if (a == "-h" || a == "--help" || a == "help") {
      std::fwrite(kTuiHelp.data(), 1, kTuiHelp.size(), stdout);
      return 0;
    } else if (name == "--control-plane") {
      take(&o.control_plane);
    } else if (name == "--token-file") {
      take(&o.token_file);
    } else if (name == "--tls-ca") {
      take(&o.tls_ca_file);
    } else if (a == "--insecure") {
      o.insecure = true;
    } else if (name == "--refresh-ms") {
      std::string v;
      take(&v);
      char* end = nullptr;
      const unsigned long ms = std::strtoul(v.c_str(), &end, 10);
      if (error.empty() && (v.empty() || *end != '\0' || ms < 100 || ms > 60000)) {
        error = "--refresh-ms: expected a number of milliseconds from 100 to 60000";
      }
      o.refresh_ms = static_cast<uint32_t>(ms);
    } else {
      error = common::StrCat("unknown flag \"", a, "\"");
    }
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
