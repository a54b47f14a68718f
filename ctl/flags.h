#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ccrelay::ctl {

// A small flag parser: `--name value`, `--name=value` and boolean `--name`; anything else is a
// positional argument. Unknown flags are usage errors.
class FlagParser {
 public:
  void String(std::string_view name, std::string* out);
  void Uint(std::string_view name, uint32_t* out);
  void Bool(std::string_view name, bool* out);

  // Parses `args`; false with error() set on a usage error. `--help`/`-h` set help().
  bool Parse(const std::vector<std::string>& args);
  const std::vector<std::string>& positional() const { return positional_; }
  const std::string& error() const { return error_; }
  bool help() const { return help_; }

 private:
  enum class Kind { kString, kUint, kBool };
  struct Spec {
    std::string name;
    Kind kind;
    void* out;
  };
  std::vector<Spec> specs_;
  std::vector<std::string> positional_;
  std::string error_;
  bool help_ = false;
};

}  // namespace ccrelay::ctl
