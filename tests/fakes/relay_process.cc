#include "tests/fakes/relay_process.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <utility>

namespace ccrelay::testing {
namespace {

using std::chrono::milliseconds;

// The listening line in the text and in the JSON log format (--log-format json). The leading
// space keeps "control_plane_listening address=..." (the gRPC port) from matching.
constexpr std::string_view kListenMarkers[] = {" listening address=127.0.0.1:",
                                               R"("event":"listening","address":"127.0.0.1:)"};

// The port of the listening line once its whole number has arrived (0 until then).
uint16_t ListeningPort(std::string_view log) {
  for (std::string_view marker : kListenMarkers) {
    const size_t at = log.find(marker);
    if (at == std::string_view::npos) {
      continue;
    }
    const size_t digits = at + marker.size();
    size_t end = digits;
    while (end < log.size() && std::isdigit(static_cast<unsigned char>(log[end])) != 0) {
      ++end;
    }
    if (end < log.size() && end > digits) {
      return static_cast<uint16_t>(std::atoi(std::string(log.substr(digits, end - digits)).c_str()));
    }
  }
  return 0;
}

}  // namespace

RelayProcess::~RelayProcess() {
  if (proc_.running()) {
    proc_.Stop(milliseconds(3000));
  }
}

bool RelayProcess::Start(std::string_view yaml, const std::vector<std::string>& extra_args,
                         milliseconds timeout) {
  if (dir_.path().empty()) {
    error_ = "no temp dir";
    return false;
  }
  config_path_ = dir_.WriteFile("config.yaml", yaml);
  for (const char* sub : {"/home", "/config", "/state", "/data", "/cache"}) {
    std::error_code ec;
    std::filesystem::create_directories(dir_.path() + sub, ec);
  }

  // The control plane's gRPC port too is picked by the OS, so relays started at once by parallel
  // tests never collide on the default 127.0.0.1:8788 (nor on the HTTP listener's 127.0.0.1:8789).
  std::vector<std::string> args = {CCR_RELAY_BINARY, "serve",
                                   "--config",       config_path_,
                                   "--listen",       "127.0.0.1:0",
                                   "--control-plane-listen", "127.0.0.1:0",
                                   "--control-plane-http-listen", "127.0.0.1:0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<std::pair<std::string, std::string>> env = {
      {"HOME", dir_.path() + "/home"},
      {"XDG_CONFIG_HOME", dir_.path() + "/config"},
      {"XDG_STATE_HOME", dir_.path() + "/state"},
      {"XDG_DATA_HOME", dir_.path() + "/data"},
      {"XDG_CACHE_HOME", dir_.path() + "/cache"},
  };
  env.insert(env.end(), extra_env_.begin(), extra_env_.end());
  if (!proc_.Start(args, env)) {
    return false;
  }
  // Wait for the listening line (or the process dying).
  if (!proc_.WaitForText([](std::string_view log) { return ListeningPort(log) != 0; }, timeout)) {
    error_ = proc_.running() ? "timed out waiting for the listening line"
                             : "cc-relay exited before listening";
    return false;
  }
  port_ = ListeningPort(proc_.log());
  return true;
}

}  // namespace ccrelay::testing
