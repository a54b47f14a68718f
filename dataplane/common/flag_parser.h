#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace ccrelay::common {

// What an argument that is not a flag means.
enum class Operands {
  // An operand, collected in order into positional(); "--" ends the flags (cc-relayctl's
  // commands).
  kAllowed,
  // A usage error, `unknown flag "ARG"` (cc-relay's commands take flags only).
  kRejected,
  // The first one, which must not start with '-', is the command (command()). After it, every
  // argument that is not one of these flags goes to positional() as it is, for the command's own
  // parser: cc-relayctl's global flags, which may stand before or after the command.
  kCommand,
};

struct FlagParserOptions {
  Operands operands = Operands::kAllowed;
  // A bare "help" asks for help too, as -h and --help do (with kCommand: only before the
  // command).
  bool help_word = false;
};

// The one flag parser of cc-relay and cc-relayctl: `--name value`, `--name=value`, boolean
// `--name` (or `--name=true|false`), -h/--help; flags and operands in any order. Parse stops at
// the first usage error. Register the flags first; each `out` must outlive Parse.
class FlagParser {
 public:
  explicit FlagParser(FlagParserOptions options = {});

  void String(std::string_view name, std::string* out);
  // A non-negative decimal integer. A bad value is the usage error `error`, by default
  // `flag NAME needs a non-negative integer, got "VALUE"`.
  void Uint(std::string_view name, uint32_t* out, std::string_view error = {});
  void Bool(std::string_view name, bool* out);
  // Any value, checked and stored by `set`; a status it returns is the usage error (its message
  // as it is).
  void Custom(std::string_view name, std::function<absl::Status(std::string_view value)> set);
  // `alias` (e.g. "-c") means the flag `name` registered before.
  void Alias(std::string_view alias, std::string_view name);

  // InvalidArgument with the message to print on a usage error.
  absl::Status Parse(std::span<const std::string_view> args);
  absl::Status Parse(const std::vector<std::string>& args);

  bool help() const { return help_; }
  const std::string& command() const { return command_; }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  struct Spec {
    std::string name;
    bool is_bool = false;
    std::function<absl::Status(std::string_view)> set;  // a bool gets "true" or "false"
  };
  const Spec* Find(std::string_view name) const;
  bool IsHelp(std::string_view arg) const;
  // Applies the flag `spec` spelt `arg`, taking its value from args[*i + 1] if it needs one.
  absl::Status Take(const Spec& spec, std::span<const std::string_view> args, size_t* i);

  const FlagParserOptions options_;
  std::vector<Spec> specs_;
  std::string command_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

}  // namespace ccrelay::common
