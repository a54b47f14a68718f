#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace ccrelay::common {

// The shared token of a --token-file: the first line, surrounding whitespace removed. An
// unreadable or empty file is an error naming the path (never the content).
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace ccrelay::common
