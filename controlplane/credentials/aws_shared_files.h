#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "controlplane/credentials/aws_credentials.h"

namespace ccrelay::controlplane::aws {

// Where the shared files are: AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE, else
// $HOME/.aws/credentials and $HOME/.aws/config ("" when neither the variable nor HOME is set).
// A leading "~/" expands with HOME.
struct SharedFilePaths {
  std::string credentials;
  std::string config;
};
SharedFilePaths SharedFilePathsFrom(const EnvLookup& env);

// section name -> key (lowercase) -> value (trimmed).
using IniSections = std::map<std::string, std::map<std::string, std::string>>;

// The AWS flavour of INI (botocore's): "[section]" headers; "key = value" or "key: value";
// whole-line comments starting with '#' or ';'; an indented line after a key continues it (a
// nested block such as "s3 =\n  addressing_style = path") and is skipped. No inline comments.
// Section names are kept as written (trimmed); later duplicates of a key win.
IniSections ParseIni(std::string_view text);

// One profile as the files define it: the config file's "[profile name]" (or "[default]")
// section, overridden key by key by the credentials file's "[name]" section.
struct SharedProfile {
  std::string name;
  bool in_credentials_file = false;
  bool in_config_file = false;
  std::map<std::string, std::string> values;

  bool found() const { return in_credentials_file || in_config_file; }
  // The value of `key`, "" when absent.
  std::string Get(const std::string& key) const;
};

// Reads both files (a missing file holds no profiles; an unreadable one is an error naming it).
absl::StatusOr<SharedProfile> LoadSharedProfile(const SharedFilePaths& paths,
                                                const std::string& profile);

}  // namespace ccrelay::controlplane::aws
