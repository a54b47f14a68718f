#pragma once

#include <string>

#include "absl/status/status.h"

namespace ccrelay::controlplane::tui {

struct TuiOptions {
  std::string control_plane = "127.0.0.1:8788";
  std::string token_file;
  // PEM roots for TLS to the control plane; without it, plaintext (loopback only unless
  // `insecure`).
  std::string tls_ca_file;
  bool insecure = false;
  uint32_t refresh_ms = 500;  // WatchStats interval
};

// Runs the dashboard on the terminal until the user quits. Errors: bad options (unreadable
// token file, plaintext to a remote address) or no terminal. An unreachable control plane is
// not an error: the dashboard says so and keeps retrying.
absl::Status RunTui(const TuiOptions& options);

}  // namespace ccrelay::controlplane::tui
