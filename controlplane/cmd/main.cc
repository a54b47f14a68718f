// `cc-relay`: parses subcommands and calls libraries, nothing more.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/synchronization/mutex.h"

#include "proto/snapshot.pb.h"
#include "controlplane/cmd/control_plane_command.h"
#include "controlplane/cmd/data_plane_command.h"
#include "controlplane/cmd/tui_command.h"
#include "controlplane/config/config_loader.h"
#include "dataplane/common/flag_parser.h"
#include "dataplane/common/log.h"
#include "dataplane/common/str.h"
#include "dataplane/server/data_plane.h"

namespace {

using ccrelay::controlplane::LoadResult;

constexpr std::string_view kMainHelp = R"(cc-relay: a relay that lets Claude Code use many Anthropic-compatible providers and keys

Usage:
  cc-relay <command> [flags]

Commands:
  serve             Start the relay (control plane and data plane in one process)
  control-plane     Run the control plane alone (data planes connect over gRPC)
  data-plane        Run a data plane fed by a control plane (no config file needed)
  tui               Live dashboard: providers, keys, recent requests
  status            Check whether a relay answers at the configured address
  config validate   Validate a configuration file
  version           Print version information

Flags:
  -h, --help        Help for cc-relay (also: cc-relay <command> --help)

Point Claude Code at it:  ANTHROPIC_BASE_URL=http://127.0.0.1:8787 claude
)";

constexpr std::string_view kValidateHelp = R"(Validate a configuration file.

Usage:
  cc-relay config validate [--config PATH]

Prints every error as file:line:column: key.path: message and exits 1 when there is any.
)";

constexpr std::string_view kStatusHelp = R"(Check whether a relay answers.

Usage:
  cc-relay status [--config PATH] [--addr HOST:PORT]

Asks GET /health at --addr (default: server.listen of the config, else 127.0.0.1:8787).
Exit 0 when it answers ok, 1 otherwise.
)";

constexpr std::string_view kVersionHelp = R"(Print version information.

Usage:
  cc-relay version
)";

struct Flags {
  std::string config;
  std::string addr;
  bool help = false;
  std::string error;
};

bool IsHelp(std::string_view a) { return a == "-h" || a == "--help" || a == "help"; }

// The flags of status, config validate and version (args[from..]).
Flags ParseFlags(const std::vector<std::string_view>& args, size_t from) {
  Flags f;
  ccrelay::common::FlagParser parser(
      {.operands = ccrelay::common::Operands::kRejected, .help_word = true});
  parser.String("--config", &f.config);
  parser.Alias("-c", "--config");
  parser.String("--addr", &f.addr);
  // Accepted as they always were, and unused here.
  std::string unused;
  for (const char* name : {"--listen", "--log-level", "--log-format", "--workers"}) {
    parser.String(name, &unused);
  }
  const absl::Status st = parser.Parse(std::span(args).subspan(from));
  f.help = parser.help();
  f.error = std::string(st.message());
  return f;
}

// Loads --config, else the default path if it exists, else the built-in default.
LoadResult LoadSnapshot(const std::string& flag_path, std::string* used_path) {
  const auto env = ccrelay::controlplane::ProcessEnv();
  if (!flag_path.empty()) {
    *used_path = flag_path;
    return ccrelay::controlplane::LoadConfigFile(flag_path, env);
  }
  const std::string def = ccrelay::controlplane::DefaultConfigPath(env);
  std::error_code ec;
  if (!def.empty() && std::filesystem::exists(def, ec)) {
    *used_path = def;
    return ccrelay::controlplane::LoadConfigFile(def, env);
  }
  used_path->clear();
  LoadResult r;
  r.snapshot = ccrelay::controlplane::BuiltinDefaultSnapshot();
  return r;
}

void PrintErrors(const LoadResult& r) {
  for (const auto& e : r.errors) {
    std::fprintf(stderr, "%s\n", e.ToString().c_str());
  }
}

int Validate(const Flags& f) {
  std::string path;
  LoadResult r = LoadSnapshot(f.config, &path);
  if (!r.ok()) {
    PrintErrors(r);
    std::fprintf(stderr, "%zu error(s) in %s\n", r.errors.size(), path.c_str());
    return 1;
  }
  if (path.empty()) {
    std::printf("no config file (%s does not exist): the built-in default is valid\n",
                ccrelay::controlplane::DefaultConfigPath(ccrelay::controlplane::ProcessEnv())
                    .c_str());
    return 0;
  }
  std::printf("%s: OK (%d provider(s), strategy %s)\n", path.c_str(),
              r.snapshot->providers_size(), r.snapshot->routing().strategy().c_str());
  return 0;
}

// GET /health over a plain socket (no Beast needed for one request).
int Status(const Flags& f) {
  std::string addr = f.addr;
  if (addr.empty()) {
    std::string path;
    LoadResult r = LoadSnapshot(f.config, &path);
    addr = r.ok() ? r.snapshot->server().listen() : "127.0.0.1:8787";
  }
  std::string host = addr.substr(0, addr.rfind(':'));
  const std::string port = addr.substr(addr.rfind(':') + 1);
  if (std::string_view(host).starts_with("[")) {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "0.0.0.0") {
    host = "127.0.0.1";
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    std::printf("cc-relay at %s: cannot resolve\n", addr.c_str());
    return 1;
  }
  int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const bool connected = fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0;
  freeaddrinfo(res);
  if (!connected) {
    std::printf("cc-relay at %s: not running (%s)\n", addr.c_str(), std::strerror(errno));
    if (fd >= 0) {
      close(fd);
    }
    return 1;
  }
  const std::string req =
      ccrelay::common::StrCat("GET /health HTTP/1.1\r\nHost: ", addr, "\r\nConnection: close\r\n\r\n");
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t body = resp.find("\r\n\r\n");
  if (std::string_view(resp).starts_with("HTTP/1.1 200") && body != std::string::npos) {
    std::printf("cc-relay at %s: running, %s\n", addr.c_str(), resp.substr(body + 4).c_str());
    return 0;
  }
  std::printf("cc-relay at %s: unexpected answer\n", addr.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil is built without NDEBUG, so absl::Mutex runs its deadlock detector on every
  // lock: a graph of lock ids behind one process-wide lock (perf: GraphCycles::GetId on the
  // request path, about 2% of a worker's samples). The tests keep the detector; the binary
  // does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::vector<std::string_view> args(argv, argv + argc);
  if (args.size() < 2 || IsHelp(args[1])) {
    std::fputs(kMainHelp.data(), args.size() < 2 ? stderr : stdout);
    return args.size() < 2 ? 2 : 0;
  }
  const std::string_view cmd = args[1];
  if (cmd == "version" || cmd == "--version") {
    Flags f = ParseFlags(args, 2);
    if (f.help) {
      std::fputs(kVersionHelp.data(), stdout);
      return 0;
    }
    std::printf("cc-relay %s\n", CCR_VERSION);
    return 0;
  }
  if (cmd == "control-plane") {
    return ccrelay::controlplane::RunControlPlaneCommand(args);
  }
  if (cmd == "serve") {
    return ccrelay::controlplane::RunServeCommand(args);
  }
  if (cmd == "data-plane") {
    return ccrelay::controlplane::RunDataPlaneCommand(args);
  }
  if (cmd == "tui") {
    return ccrelay::controlplane::RunTuiCommand(args);
  }
  if (cmd == "status") {
    Flags f = ParseFlags(args, 2);
    if (f.help) {
      std::fputs(kStatusHelp.data(), stdout);
      return 0;
    }
    if (!f.error.empty()) {
      std::fprintf(stderr, "error: %s\n\n%s", f.error.c_str(), kStatusHelp.data());
      return 2;
    }
    return Status(f);
  }
  if (cmd == "config") {
    if (args.size() < 3 || IsHelp(args[2])) {
      std::fputs(kValidateHelp.data(), args.size() < 3 ? stderr : stdout);
      return args.size() < 3 ? 2 : 0;
    }
    if (args[2] != "validate") {
      std::fprintf(stderr, "error: unknown config command \"%s\"\n\n%s",
                   std::string(args[2]).c_str(), kValidateHelp.data());
      return 2;
    }
    Flags f = ParseFlags(args, 3);
    if (f.help) {
      std::fputs(kValidateHelp.data(), stdout);
      return 0;
    }
    if (!f.error.empty()) {
      std::fprintf(stderr, "error: %s\n\n%s", f.error.c_str(), kValidateHelp.data());
      return 2;
    }
    return Validate(f);
  }
  std::fprintf(stderr, "error: unknown command \"%s\"\n\n%s", std::string(cmd).c_str(),
               kMainHelp.data());
  return 2;
}
