#pragma once

#include <string_view>
#include <vector>

namespace ccrelay::controlplane {

// `cc-relay serve [flags]`: the control plane and one data plane in one process, the data plane
// subscribed through the control plane's in-process gRPC channel (the code path of a remote
// one). Args as on the command line (args[1] = "serve"). Returns the exit code.
int RunServeCommand(const std::vector<std::string_view>& args);

// `cc-relay data-plane --control-plane ADDR [flags]`: a data plane alone, fed by a remote
// control plane; needs no config file. Returns the exit code.
int RunDataPlaneCommand(const std::vector<std::string_view>& args);

}  // namespace ccrelay::controlplane
