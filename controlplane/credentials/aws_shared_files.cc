#include "controlplane/credentials/aws_shared_files.h"

#include <cerrno>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>

#include "dataplane/common/str.h"

namespace ccrelay::controlplane::aws {
namespace {

using common::StrCat;

std::string Env(const EnvLookup& env, const std::string& name) { return env(name).value_or(""); }

std::string ExpandHome(const std::string& path, const std::string& home) {
  if (!home.empty() && (path == "~" || path.starts_with("~/"))) {
    return StrCat(home, std::string_view(path).substr(1));
  }
  return path;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The whole file; nullopt when it does not exist; an error when it exists but cannot be read.
absl::StatusOr<std::optional<std::string>> ReadOptionalFile(const std::string& path) {
  if (path.empty()) {
    return std::optional<std::string>();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return std::optional<std::string>();
    }
    return absl::PermissionDeniedError(
        StrCat(path, ": cannot read: ", std::generic_category().message(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return std::optional<std::string>(text.str());
}

// The profile a config-file section header names ("" for other sections: sso-session, ...).
std::string ConfigSectionProfile(std::string_view section) {
  if (section == "default") {
    return "default";
  }
  if (!common::ConsumePrefix(&section, "profile") || section.empty() ||
      (section.front() != ' ' && section.front() != '\t')) {
    return "";
  }
  return std::string(Trim(section));
}

}  // namespace

SharedFilePaths SharedFilePathsFrom(const EnvLookup& env) {
  const std::string home = Env(env, "HOME");
  SharedFilePaths paths;
  paths.credentials = Env(env, "AWS_SHARED_CREDENTIALS_FILE");
  paths.config = Env(env, "AWS_CONFIG_FILE");
  if (paths.credentials.empty() && !home.empty()) {
    paths.credentials = StrCat(home, "/.aws/credentials");
  }
  if (paths.config.empty() && !home.empty()) {
    paths.config = StrCat(home, "/.aws/config");
  }
  paths.credentials = ExpandHome(paths.credentials, home);
  paths.config = ExpandHome(paths.config, home);
  return paths;
}

IniSections ParseIni(std::string_view text) {
  IniSections out;
  std::map<std::string, std::string>* section = nullptr;
  bool after_key = false;  // an indented line now continues the last key
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view raw = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    const std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') {
      continue;
    }
    if (line.front() == '[') {
      const size_t close = line.find(']');
      if (close == std::string_view::npos) {
        section = nullptr;  // a broken header: skip its keys rather than misfile them
        continue;
      }
      section = &out[std::string(Trim(line.substr(1, close - 1)))];
      after_key = false;
      continue;
    }
    const bool indented = raw.front() == ' ' || raw.front() == '\t';
    if (section == nullptr || (indented && after_key)) {
      continue;
    }
    const size_t sep = line.find_first_of("=:");
    if (sep == std::string_view::npos) {
      continue;
    }
    (*section)[common::ToLower(Trim(line.substr(0, sep)))] =
        std::string(Trim(line.substr(sep + 1)));
    after_key = true;
  }
  return out;
}

std::string SharedProfile::Get(const std::string& key) const {
  auto it = values.find(key);
  return it == values.end() ? std::string() : it->second;
}

absl::StatusOr<SharedProfile> LoadSharedProfile(const SharedFilePaths& paths,
                                                const std::string& profile) {
  SharedProfile out;
  out.name = profile;
  auto config = ReadOptionalFile(paths.config);
  if (!config.ok()) {
    return config.status();
  }
  if (config->has_value()) {
    for (auto& [section, values] : ParseIni(**config)) {
      if (ConfigSectionProfile(section) == profile) {
        out.in_config_file = true;
        for (auto& [k, v] : values) {
          out.values[k] = std::move(v);
        }
      }
    }
  }
  auto credentials = ReadOptionalFile(paths.credentials);
  if (!credentials.ok()) {
    return credentials.status();
  }
  if (credentials->has_value()) {
    IniSections sections = ParseIni(**credentials);
    auto it = sections.find(profile);
    if (it != sections.end()) {
      out.in_credentials_file = true;
      for (auto& [k, v] : it->second) {
        out.values[k] = std::move(v);
      }
    }
  }
  return out;
}

}  // namespace ccrelay::controlplane::aws
