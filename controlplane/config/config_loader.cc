#include "controlplane/config/config_loader.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include <yaml-cpp/yaml.h>

#include "controlplane/config/health_config.h"
#include "controlplane/config/metrics_config.h"
#include "controlplane/config/provider_config.h"
#include "controlplane/config/routing_config.h"
#include "controlplane/config/server_config.h"
#include "controlplane/config/yaml_reader.h"

namespace ccrelay::controlplane {

namespace {

constexpr std::string_view kBuiltinSource = "built-in default";
constexpr uintmax_t kMaxConfigBytes = uintmax_t{16} * 1024 * 1024;

LoadResult ErrorResult(std::string file, std::string message) {
  LoadResult result;
  result.errors.push_back(ConfigError{std::move(file), 0, 0, "", std::move(message)});
  return result;
}

// Walks the parsed document; every problem lands in `reader`.
ccrelay::v1::RoutingSnapshot Compile(ConfigReader& reader, const YAML::Node& doc,
                                     const std::string& base_dir) {
  ccrelay::v1::RoutingSnapshot snapshot;
  const Field root = ConfigReader::Root(doc);
  std::optional<Mapping> map =
      reader.Map(root, {"server", "logging", "providers", "routing", "metrics", "health"});
  if (!map.has_value()) {
    return snapshot;
  }
  *snapshot.mutable_server() = ReadServer(reader, map->Get("server"));
  *snapshot.mutable_logging() = ReadLogging(reader, map->Get("logging"));
  // Set only when configured: an absent section leaves the snapshot as it was before metrics.
  if (ccrelay::v1::Metrics metrics = ReadMetrics(reader, map->Get("metrics"));
      !metrics.listen().empty()) {
    *snapshot.mutable_metrics() = std::move(metrics);
  }
  std::vector<ReadProvider> providers = ReadProviders(reader, map->Get("providers"), base_dir);
  *snapshot.mutable_routing() = ReadRouting(reader, map->Get("routing"), providers);
  *snapshot.mutable_health() = ReadHealth(reader, map->Get("health"));
  for (ReadProvider& p : providers) {
    *snapshot.add_providers() = std::move(p.provider);
  }
  return snapshot;
}

LoadResult Load(std::string_view text, std::string_view label, const EnvLookup& env,
                const std::string& base_dir) {
  const std::string file(label);
  ConfigReader reader(file, env);
  ccrelay::v1::RoutingSnapshot snapshot;
  try {
    std::optional<YAML::Node> doc = ParseSingleDocument(std::string(text), reader);
    if (doc.has_value()) {
      snapshot = Compile(reader, *doc, base_dir);
    }
  } catch (const YAML::Exception& e) {
    reader.Error(e.mark, "", absl::StrCat("cannot read YAML: ", e.msg));
  } catch (const std::exception& e) {
    reader.Error(YAML::Mark::null_mark(), "", absl::StrCat("cannot read config: ", e.what()));
  } catch (...) {
    reader.Error(YAML::Mark::null_mark(), "", "cannot read config: unknown error");
  }
  LoadResult result;
  result.errors = reader.TakeErrors();
  if (!result.errors.empty()) {
    if (!reader.stopped()) {
      std::stable_sort(result.errors.begin(), result.errors.end(),
                       [](const ConfigError& a, const ConfigError& b) {
                         return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                       });
    }
    return result;
  }
  snapshot.set_version(0);
  snapshot.set_source(file);
  result.snapshot = std::move(snapshot);
  return result;
}

}  // namespace

std::string ConfigError::ToString() const {
  std::string out = file;
  if (line > 0) {
    absl::StrAppend(&out, ":", line, ":", column);
  }
  out += ": ";
  if (!key_path.empty()) {
    absl::StrAppend(&out, key_path, ": ");
  }
  out += message;
  return out;
}

LoadResult LoadConfigString(std::string_view yaml_text, std::string_view file_label,
                            const EnvLookup& env) {
  return Load(yaml_text, file_label, env, "");
}

LoadResult LoadConfigFile(const std::string& path, const EnvLookup& env) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    return ErrorResult(path, "config file not found");
  }
  if (std::filesystem::is_directory(st)) {
    return ErrorResult(path, "is a directory, not a config file");
  }
  if (std::filesystem::is_regular_file(st)) {
    const uintmax_t size = std::filesystem::file_size(path, ec);
    if (!ec && size > kMaxConfigBytes) {
      return ErrorResult(path, "config file is larger than 16 MiB");
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return ErrorResult(
        path, absl::StrCat("cannot open config file: ", std::generic_category().message(errno)));
  }
  std::string text;
  // Bounded read: a FIFO or device must not make us read forever.
  std::array<char, size_t{64} * 1024> buf;
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
    text.append(buf.data(), static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      return ErrorResult(path, "config file is larger than 16 MiB");
    }
  }
  if (in.bad()) {
    return ErrorResult(path, "error while reading the config file");
  }
  const std::string base_dir = std::filesystem::path(path).parent_path().string();
  return Load(text, path, env, base_dir);
}

ccrelay::v1::RoutingSnapshot BuiltinDefaultSnapshot() {
  ccrelay::v1::RoutingSnapshot snapshot;
  snapshot.set_version(0);
  *snapshot.mutable_server() = DefaultServer();
  *snapshot.mutable_logging() = DefaultLogging();
  *snapshot.add_providers() = DefaultAnthropicProvider();
  *snapshot.mutable_routing() = DefaultRouting();
  *snapshot.mutable_health() = DefaultHealth();
  // Choice (SPEC.md, Key pools): with no config file the relay sends nothing of its own
  // upstream; there are no keys to check, only the client's own credentials.
  snapshot.mutable_health()->mutable_checks()->set_interval_ms(0);
  snapshot.set_source(std::string(kBuiltinSource));
  return snapshot;
}

std::string DefaultConfigPath(const EnvLookup& env) {
  std::optional<std::string> xdg = env ? env("XDG_CONFIG_HOME") : std::nullopt;
  if (xdg.has_value() && !xdg->empty() && xdg->front() == '/') {
    return (std::filesystem::path(*xdg) / "cc-relay" / "config.yaml").string();
  }
  std::optional<std::string> home = env ? env("HOME") : std::nullopt;
  if (home.has_value() && !home->empty()) {
    return (std::filesystem::path(*home) / ".config" / "cc-relay" / "config.yaml").string();
  }
  return ".config/cc-relay/config.yaml";
}

}  // namespace ccrelay::controlplane
