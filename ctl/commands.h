#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "ctl/client.h"
#include "ctl/output.h"
#include "dataplane/common/flag_parser.h"

namespace ccrelay::ctl {

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// One command line: global flags, the words after the noun, and where output goes.
struct Invocation {
  GlobalFlags flags;
  std::vector<std::string> args;  // after the noun (verb, its flags and operands)
  const Output* out = nullptr;
};

// One function per noun (providers.cc, keys.cc, ...). Each returns an exit code.
int RunProviders(const Invocation& inv);
int RunKeys(const Invocation& inv);
int RunDataPlanes(const Invocation& inv);
int RunStats(const Invocation& inv);
int RunConfig(const Invocation& inv);
int RunDataPlane(const Invocation& inv);
int RunRoute(const Invocation& inv);
int RunUsers(const Invocation& inv);
int RunUsage(const Invocation& inv);
int RunWhoAmI(const Invocation& inv);

// Prints "error: <message>" and `help` to stderr; returns kExitUsage.
int UsageError(std::string_view message, std::string_view help);
// Prints `help` to stdout; returns kExitOk.
int PrintHelp(std::string_view help);
// Parses the command's arguments: the exit code when the command ends here (a usage error,
// --help), nullopt when it goes on.
std::optional<int> ParseArgs(common::FlagParser& flags, const Invocation& inv, std::string_view help);
// Connects to the control plane (--control-plane); on failure prints the error and returns null.
std::unique_ptr<Client> ConnectOrReport(const Invocation& inv, const std::string& address);
// A secret from `path`, or from standard input when `path` is empty: the first line, trimmed.
// Never from the command line.
absl::StatusOr<std::string> ReadSecret(const std::string& path);

}  // namespace ccrelay::ctl
