#include "controlplane/config/env_expand.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace ccrelay::controlplane {

namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }

bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool IsValidName(std::string_view name) {
  if (name.empty() || !IsNameStart(name.front())) {
    return false;
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return false;
    }
  }
  return true;
}

constexpr const char* kSyntaxHint = "use ${NAME} or ${NAME:-default}, and $$ for a literal $";

}  // namespace

EnvLookup ProcessEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    // getenv races only with setenv/putenv, which cc-relay never calls.
    const char* value = std::getenv(std::string(name).c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

EnvExpansion ExpandEnv(std::string_view text, const EnvLookup& env) {
  EnvExpansion out;
  out.value.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out.value.push_back(c);
      ++i;
      continue;
    }
    const char next = text[i + 1];
    if (next == '$') {
      out.value.push_back('$');
      i += 2;
      continue;
    }
    if (next != '{') {
      out.value.push_back('$');
      ++i;
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      out.errors.push_back(absl::StrCat(R"(unterminated "${" (missing "}"); )", kSyntaxHint));
      return out;
    }
    const std::string_view inner = text.substr(i + 2, close - (i + 2));
    i = close + 1;
    std::string_view name = inner;
    std::optional<std::string_view> fallback;
    if (const size_t sep = inner.find(":-"); sep != std::string_view::npos) {
      name = inner.substr(0, sep);
      fallback = inner.substr(sep + 2);
    }
    if (!IsValidName(name)) {
      // The reference itself is not echoed: the value may be a secret someone pasted inside ${}.
      out.errors.push_back(absl::StrCat("invalid environment variable reference; ", kSyntaxHint));
      continue;
    }
    if (fallback.has_value() && fallback->find("${") != std::string_view::npos) {
      out.errors.push_back(absl::StrCat("nested \"${\" in the default of ${", std::string(name),
                                        ":-...} is not supported"));
      continue;
    }
    std::optional<std::string> value = env ? env(name) : std::nullopt;
    if (fallback.has_value() && (!value.has_value() || value->empty())) {
      out.value.append(*fallback);
    } else if (!value.has_value()) {
      out.errors.push_back(absl::StrCat("environment variable ", std::string(name), " is not set"));
    } else {
      out.value.append(*value);
    }
  }
  return out;
}

}  // namespace ccrelay::controlplane
