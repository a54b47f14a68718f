#include "dataplane/common/flag_parser.h"

#include <utility>

#include "dataplane/common/str.h"

namespace ccrelay::common {

FlagParser::FlagParser(FlagParserOptions options) : options_(options) {}

void FlagParser::String(std::string_view name, std::string* out) {
  Custom(name, [out](std::string_view v) {
    *out = std::string(v);
    return absl::OkStatus();
  });
}

void FlagParser::Uint(std::string_view name, uint32_t* out, std::string_view error) {
  Custom(name, [name = std::string(name), out, error = std::string(error)](std::string_view v) {
    if (ParseUint(v, out)) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        error.empty() ? StrCat("flag ", name, " needs a non-negative integer, got \"", v, "\"")
                      : error);
  });
}

void FlagParser::Bool(std::string_view name, bool* out) {
  specs_.push_back({std::string(name), /*is_bool=*/true, [out](std::string_view v) {
                      *out = v == "true";
                      return absl::OkStatus();
                    }});
}

void FlagParser::Custom(std::string_view name,
                        std::function<absl::Status(std::string_view value)> set) {
  specs_.push_back({std::string(name), /*is_bool=*/false, std::move(set)});
}

void FlagParser::Alias(std::string_view alias, std::string_view name) {
  const Spec* spec = Find(name);
  if (spec != nullptr) {
    Spec copy = *spec;
    copy.name = std::string(alias);
    specs_.push_back(std::move(copy));
  }
}

const FlagParser::Spec* FlagParser::Find(std::string_view name) const {
  for (const Spec& s : specs_) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

bool FlagParser::IsHelp(std::string_view arg) const {
  return arg == "-h" || arg == "--help" || (options_.help_word && arg == "help");
}

absl::Status FlagParser::Take(const Spec& spec, std::span<const std::string_view> args, size_t* i) {
  const std::string_view arg = args[*i];
  const size_t eq = arg.find('=');
  if (spec.is_bool) {
    if (eq == std::string_view::npos) {
      return spec.set("true");
    }
    const std::string_view v = arg.substr(eq + 1);
    if (v != "true" && v != "false") {
      return absl::InvalidArgumentError(StrCat("flag ", spec.name, " takes true or false"));
    }
    return spec.set(v);
  }
  if (eq != std::string_view::npos) {
    return spec.set(arg.substr(eq + 1));
  }
  if (*i + 1 >= args.size()) {
    return absl::InvalidArgumentError(StrCat("flag ", arg, " needs a value"));
  }
  return spec.set(args[++*i]);
}

absl::Status FlagParser::Parse(const std::vector<std::string>& args) {
  const std::vector<std::string_view> views(args.begin(), args.end());
  return Parse(std::span<const std::string_view>(views));
}

absl::Status FlagParser::Parse(std::span<const std::string_view> args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    const std::string_view name = a.substr(0, a.find('='));
    const bool before_command = command_.empty();
    if (options_.operands == Operands::kCommand) {
      // The flags are known anywhere; the rest after the command is the command's.
      if (const Spec* spec = Find(name); spec != nullptr) {
        if (absl::Status st = Take(*spec, args, &i); !st.ok()) {
          return st;
        }
      } else if (!before_command) {
        positional_.emplace_back(a);
      } else if (IsHelp(a)) {
        help_ = true;
      } else if (!a.starts_with("-")) {
        command_ = std::string(a);
      } else {
        return absl::InvalidArgumentError(
            StrCat("unknown flag \"", name, "\" (command flags go after the command)"));
      }
      continue;
    }
    if (IsHelp(a)) {
      help_ = true;
      continue;
    }
    if (options_.operands == Operands::kAllowed && a == "--") {
      positional_.insert(positional_.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                         args.end());
      break;
    }
    const Spec* spec = Find(name);
    if (spec == nullptr) {
      if (options_.operands == Operands::kAllowed && !a.starts_with("--")) {
        positional_.emplace_back(a);
        continue;
      }
      return absl::InvalidArgumentError(StrCat("unknown flag \"", name, "\""));
    }
    if (absl::Status st = Take(*spec, args, &i); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace ccrelay::common
