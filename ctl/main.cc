// `cc-relayctl`: the operator's CLI over gRPC, to a control plane's Management API and to a data
// plane's admin API. Parses the global flags and the noun, then hands over to the noun's file.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/commands.h"
#include "dataplane/common/str.h"

namespace {

using ccrelay::ctl::Invocation;

constexpr std::string_view kHelp =
    R"(cc-relayctl: operate a cc-relay control plane and its data planes over gRPC

Usage:
  cc-relayctl [global flags] <command> [flags]

Commands:
  providers list|get|enable|disable     Providers and their state
  keys list|add|remove|rotate|enable|disable
                                        API keys (fingerprints only; new keys from a file or stdin)
  dataplanes list                       Data planes connected to the control plane
  stats [--watch]                       Request, token and error totals
  config validate|reload|show|status    The control plane's configuration
  dataplane status|drain --addr ADDR    One data plane's admin API
  route explain --model M|--file F      Where a request would be routed, and why
  users add|list|get|set|enable|disable|remove|rotate-key
                                        Teammates and their relay keys, policy, budgets
  usage [--user U] [--since S] [--by G] Who spent what (from the control plane's database)
  whoami                                The role of the token (or relay key) in use

Global flags:
  --control-plane ADDR   Control plane gRPC address (default 127.0.0.1:8788)
  --token-file F         File with the token (sent as authorization: Bearer): the admin or
                         read-only token, or a teammate's relay key (whoami, usage: its own)
  --output table|json|csv
                         Output format (default table); -o is short for it
  --tls-ca F             CA bundle (PEM) to verify the control plane's certificate: TLS
  --tls-server-name N    Name to check in the server certificate (default: the host)
  --insecure             Allow plaintext to a non-loopback address
  --timeout-ms N         Deadline of each call (default 10000)
  -h, --help             Help (also: cc-relayctl <command> --help)

Exit codes: 0 done, 1 the operation failed (the gRPC code and message are printed), 2 usage.
)";

}  // namespace

int main(int argc, char** argv) {
  Invocation inv;
  ccrelay::common::FlagParser flags(
      {.operands = ccrelay::common::Operands::kCommand, .help_word = true});
  flags.String("--control-plane", &inv.flags.control_plane);
  flags.String("--token-file", &inv.flags.token_file);
  flags.String("--output", &inv.flags.output);
  flags.Alias("-o", "--output");
  flags.String("--tls-ca", &inv.flags.tls_ca);
  flags.String("--tls-server-name", &inv.flags.tls_server_name);
  flags.Uint("--timeout-ms", &inv.flags.timeout_ms, "--timeout-ms needs a number");
  flags.Bool("--insecure", &inv.flags.insecure);
  if (const absl::Status st = flags.Parse(std::vector<std::string>(argv + 1, argv + argc));
      !st.ok()) {
    return ccrelay::ctl::UsageError(std::string(st.message()), kHelp);
  }
  const std::string& noun = flags.command();
  const bool help = flags.help();
  inv.args = flags.positional();
  if (noun.empty()) {
    if (help) {
      return ccrelay::ctl::PrintHelp(kHelp);
    }
    return ccrelay::ctl::UsageError("a command is required", kHelp);
  }
  if (help) {
    inv.args.insert(inv.args.begin(), "--help");
  }
  if (inv.flags.output != "table" && inv.flags.output != "json" && inv.flags.output != "csv") {
    return ccrelay::ctl::UsageError("--output must be table, json or csv", kHelp);
  }
  const ccrelay::ctl::Output out(inv.flags.output == "json"  ? ccrelay::ctl::Output::Format::kJson
                                 : inv.flags.output == "csv" ? ccrelay::ctl::Output::Format::kCsv
                                                             : ccrelay::ctl::Output::Format::kTable);
  inv.out = &out;
  if (noun == "providers" || noun == "provider") {
    return ccrelay::ctl::RunProviders(inv);
  }
  if (noun == "keys" || noun == "key") {
    return ccrelay::ctl::RunKeys(inv);
  }
  if (noun == "dataplanes") {
    return ccrelay::ctl::RunDataPlanes(inv);
  }
  if (noun == "stats") {
    return ccrelay::ctl::RunStats(inv);
  }
  if (noun == "config") {
    return ccrelay::ctl::RunConfig(inv);
  }
  if (noun == "dataplane") {
    return ccrelay::ctl::RunDataPlane(inv);
  }
  if (noun == "route") {
    return ccrelay::ctl::RunRoute(inv);
  }
  if (noun == "users" || noun == "user") {
    return ccrelay::ctl::RunUsers(inv);
  }
  if (noun == "usage") {
    return ccrelay::ctl::RunUsage(inv);
  }
  if (noun == "whoami") {
    return ccrelay::ctl::RunWhoAmI(inv);
  }
  if (noun == "version") {
    std::printf("cc-relayctl %s\n", CCR_VERSION);
    return 0;
  }
  return ccrelay::ctl::UsageError("unknown command \"" + noun + "\"", kHelp);
}
