#pragma once

#include <string_view>
#include <vector>

namespace ccrelay::controlplane {

// `cc-relay tui [flags]` (args as on the command line, args[0] = "cc-relay", args[1] = "tui"):
// the live dashboard over the control plane's Management API. Returns the exit code: 0 quit,
// 1 could not start, 2 usage.
int RunTuiCommand(const std::vector<std::string_view>& args);

}  // namespace ccrelay::controlplane
