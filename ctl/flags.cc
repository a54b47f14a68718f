#include "ctl/flags.h"

#include "dataplane/common/str.h"

namespace ccrelay::ctl {

void FlagParser::String(std::string_view name, std::string* out) {
  specs_.push_back({std::string(name), Kind::kString, out});
}

void FlagParser::Uint(std::string_view name, uint32_t* out) {
  specs_.push_back({std::string(name), Kind::kUint, out});
}

void FlagParser::Bool(std::string_view name, bool* out) {
  specs_.push_back({std::string(name), Kind::kBool, out});
}

bool FlagParser::Parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      help_ = true;
      continue;
    }
    if (a == "--") {
      positional_.insert(positional_.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                         args.end());
      break;
    }
    if (!a.starts_with("--")) {
      positional_.push_back(a);
      continue;
    }
    const size_t eq = a.find('=');
    const std::string name = a.substr(0, eq);
    const Spec* spec = nullptr;
    for (const Spec& s : specs_) {
      if (s.name == name) {
        spec = &s;
      }
    }
    if (spec == nullptr) {
      error_ = common::StrCat("unknown flag \"", name, "\"");
      return false;
    }
    if (spec->kind == Kind::kBool) {
      if (eq != std::string::npos) {
        const std::string v = a.substr(eq + 1);
        if (v != "true" && v != "false") {
          error_ = common::StrCat("flag ", name, " takes true or false");
          return false;
        }
        *static_cast<bool*>(spec->out) = v == "true";
      } else {
        *static_cast<bool*>(spec->out) = true;
      }
      continue;
    }
    std::string value;
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      error_ = common::StrCat("flag ", name, " needs a value");
      return false;
    }
    if (spec->kind == Kind::kString) {
      *static_cast<std::string*>(spec->out) = value;
    } else if (!common::ParseUint(value, static_cast<uint32_t*>(spec->out))) {
      error_ = common::StrCat("flag ", name, " needs a non-negative integer, got \"", value, "\"");
      return false;
    }
  }
  return true;
}

}  // namespace ccrelay::ctl
