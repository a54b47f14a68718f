#include "controlplane/state/runtime_state.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataplane/common/secret.h"
#include "dataplane/common/str.h"
#include "nlohmann/json.hpp"

namespace ccrelay::controlplane {
namespace {

using Json = nlohmann::json;
using common::StrCat;

constexpr int kFormat = 1;

Json OverrideToJson(const EnabledOverride& o) {
  return Json{{"enabled", o.enabled}, {"config_value", o.config_value}};
}

// The decoders below throw nlohmann::json::exception on a type mismatch; ParseRuntimeState
// catches it and turns it into a Status (no exception leaves this file).
EnabledOverride OverrideFromJson(const Json& j) {
  EnabledOverride o;
  o.enabled = j.at("enabled").get<bool>();
  o.config_value = j.at("config_value").get<bool>();
  return o;
}

uint32_t U32(const Json& j, const char* name, uint32_t def) {
  auto it = j.find(name);
  if (it == j.end()) {
    return def;
  }
  return it->get<uint32_t>();
}

// Thread-safe, unlike strerror.
std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

}  // namespace

bool RuntimeState::empty() const {
  for (const auto& [name, p] : providers) {
    if (!p.empty()) {
      return false;
    }
  }
  return true;
}

std::string SerializeRuntimeState(const RuntimeState& state) {
  Json providers = Json::object();
  for (const auto& [name, p] : state.providers) {
    if (p.empty()) {
      continue;
    }
    Json jp = Json::object();
    if (p.enabled.has_value()) {
      jp["enabled"] = OverrideToJson(*p.enabled);
    }
    if (!p.key_enabled.empty()) {
      Json ke = Json::object();
      for (const auto& [fp, o] : p.key_enabled) {
        ke[fp] = OverrideToJson(o);
      }
      jp["key_enabled"] = std::move(ke);
    }
    if (!p.removed_keys.empty()) {
      jp["removed_keys"] = Json(p.removed_keys);
    }
    if (!p.added_keys.empty()) {
      Json added = Json::array();
      for (const RuntimeKey& k : p.added_keys) {
        added.push_back(Json{{"key", k.secret},
                             {"fingerprint", k.fingerprint},
                             {"rpm_limit", k.rpm_limit},
                             {"tpm_limit", k.tpm_limit},
                             {"itpm_limit", k.itpm_limit},
                             {"otpm_limit", k.otpm_limit},
                             {"weight", k.weight},
                             {"enabled", k.enabled},
                             {"added_unix_ms", k.added_unix_ms}});
      }
      jp["added_keys"] = std::move(added);
    }
    providers[name] = std::move(jp);
  }
  Json root{{"format", kFormat}, {"providers", std::move(providers)}};
  return root.dump(2) + "\n";
}

absl::StatusOr<RuntimeState> ParseRuntimeState(std::string_view json) {
  Json root = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::InvalidArgumentError("state file: not a JSON object");
  }
  RuntimeState state;
  try {
    const int format = root.value("format", 0);
    if (format != kFormat) {
      return absl::InvalidArgumentError(
          StrCat("state file: unsupported format ", format, " (expected ", kFormat, ")"));
    }
    auto providers = root.find("providers");
    if (providers == root.end()) {
      return state;
    }
    for (const auto& [name, jp] : providers->items()) {
      if (!jp.is_object()) {
        return absl::InvalidArgumentError(
            StrCat("state file: providers.", name, ": not an object"));
      }
      ProviderOverrides& p = state.providers[name];
      if (auto it = jp.find("enabled"); it != jp.end()) {
        p.enabled = OverrideFromJson(*it);
      }
      if (auto it = jp.find("key_enabled"); it != jp.end()) {
        for (const auto& [fp, o] : it->items()) {
          p.key_enabled[fp] = OverrideFromJson(o);
        }
      }
      if (auto it = jp.find("removed_keys"); it != jp.end()) {
        for (const auto& fp : *it) {
          p.removed_keys.insert(fp.get<std::string>());
        }
      }
      if (auto it = jp.find("added_keys"); it != jp.end()) {
        for (const auto& jk : *it) {
          RuntimeKey k;
          k.secret = jk.at("key").get<std::string>();
          if (k.secret.empty()) {
            return absl::InvalidArgumentError(
                StrCat("state file: providers.", name, ".added_keys: empty key"));
          }
          k.fingerprint = common::FingerprintOf(k.secret);
          k.rpm_limit = U32(jk, "rpm_limit", 0);
          k.tpm_limit = U32(jk, "tpm_limit", 0);
          k.itpm_limit = U32(jk, "itpm_limit", 0);
          k.otpm_limit = U32(jk, "otpm_limit", 0);
          k.weight = std::max<uint32_t>(1, U32(jk, "weight", 1));
          k.enabled = jk.value("enabled", true);
          k.added_unix_ms = jk.value("added_unix_ms", int64_t{0});
          p.added_keys.push_back(std::move(k));
        }
      }
    }
  } catch (const Json::exception& e) {
    // nlohmann's messages name the JSON type and position, never a value.
    return absl::InvalidArgumentError(StrCat("state file: ", e.what()));
  }
  return state;
}

absl::StatusOr<RuntimeState> LoadStateFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) {
    return RuntimeState{};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::UnavailableError(StrCat("state file ", path, ": cannot read: ", ErrnoText(errno)));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  absl::StatusOr<RuntimeState> state = ParseRuntimeState(buf.str());
  if (!state.ok()) {
    return absl::InvalidArgumentError(StrCat(path, ": ", state.status().message()));
  }
  return state;
}

absl::Status SaveStateFile(const std::string& path, const RuntimeState& state) {
  const std::string text = SerializeRuntimeState(state);
  const std::string tmp = StrCat(path, ".tmp.", static_cast<int64_t>(getpid()));
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::UnavailableError(StrCat("state file ", tmp, ": ", ErrnoText(errno)));
  }
  auto fail = [&](const char* what) {
    const int err = errno;
    close(fd);
    unlink(tmp.c_str());
    return absl::UnavailableError(StrCat("state file ", tmp, ": ", what, ": ", ErrnoText(err)));
  };
  if (fchmod(fd, 0600) != 0) {
    return fail("chmod");
  }
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail("write");
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    return fail("fsync");
  }
  if (close(fd) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(StrCat("state file ", tmp, ": close: ", ErrnoText(err)));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return absl::UnavailableError(StrCat("state file ", path, ": rename: ", ErrnoText(err)));
  }
  // Make the rename itself durable.
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) {
    dir = ".";
  }
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)!fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace ccrelay::controlplane
