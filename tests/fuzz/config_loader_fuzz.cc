// Fuzzes the config loader (YAML parse, ${VAR} expansion, validation, compile). Invariants: no
// exception escapes, a snapshot exists iff there are no errors, every error has a position.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "controlplane/config/config_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ccrelay::controlplane::EnvLookup env =
      [](std::string_view name) -> std::optional<std::string> {
    if (name == "SET") {
      return "sk-fuzz-value";
    }
    if (name == "EMPTY") {
      return "";
    }
    return std::nullopt;
  };
  const ccrelay::controlplane::LoadResult result =
      ccrelay::controlplane::LoadConfigString(text, "fuzz.yaml", env);
  if (result.ok() != result.snapshot.has_value()) {
    std::abort();
  }
  for (const auto& e : result.errors) {
    if (e.line < 1 || e.column < 1 || e.message.empty() || e.ToString().empty()) {
      std::abort();
    }
  }
  return 0;
}
