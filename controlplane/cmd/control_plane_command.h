#pragma once

#include <string_view>
#include <vector>

namespace ccrelay::controlplane {

// `cc-relay control-plane [flags]` (args as on the command line, args[0] = "cc-relay",
// args[1] = "control-plane"). Runs until SIGTERM/SIGINT; SIGHUP reloads the config. Returns the
// exit code: 0 stopped, 1 could not start, 2 usage.
int RunControlPlaneCommand(const std::vector<std::string_view>& args);

}  // namespace ccrelay::controlplane
