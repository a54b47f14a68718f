#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccrelay::controlplane {

// Looks up an environment variable; nullopt when unset. Injected so tests need no real env.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The real process environment (getenv).
EnvLookup ProcessEnv();

// Result of expanding one scalar value. `errors` are complete messages that never quote the
// value itself (it may be a secret), only variable names.
struct EnvExpansion {
  std::string value;
  std::vector<std::string> errors;
  bool ok() const { return errors.empty(); }
};

// Expands environment references in a YAML scalar value:
//   ${NAME}           the variable's value; an error when NAME is unset (empty is allowed)
//   ${NAME:-default}  the variable's value, or `default` when NAME is unset or empty; the
//                     default is literal text (no nested ${...}, no '}')
//   $$                a literal '$'
//   $ followed by anything else stays as is.
// NAME is [A-Za-z_][A-Za-z0-9_]*. Every unset variable of the value is reported, not only the
// first.
EnvExpansion ExpandEnv(std::string_view text, const EnvLookup& env);

}  // namespace ccrelay::controlplane
