#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/common/str.h"

namespace ccrelay::common {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// Output format: key=value text lines, or one JSON object per line.
enum class LogFormat : int { kText = 0, kJson = 1 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void SetLogFormat(LogFormat format);
bool ParseLogLevel(std::string_view name, LogLevel* out);
// Sets both from their config/flag names: `level` debug|info|warn|error ("" or unknown: info),
// `format` json, anything else text.
void ApplyLogSettings(std::string_view level, std::string_view format);

inline bool LogEnabled(LogLevel level) {
  extern std::atomic<int> g_log_level;
  return static_cast<int>(level) >= g_log_level.load(std::memory_order_relaxed);
}

// A structured field. Values are formatted by absl::StrCat; secrets cannot be passed (Secret has
// no string conversion).
struct LogField {
  std::string_view key;
  std::string value;
  bool quoted = false;  // text format: quote the value (it may contain spaces)
};

// Writes one line: "ts level event k=v k=v" (text) or a JSON object. Thread-safe; each line is
// written with one write(2) so lines from several threads never interleave.
void LogLine(LogLevel level, std::string_view event, std::initializer_list<LogField> fields);

// Test hook: capture lines instead of writing to stderr (nullptr restores stderr).
void SetLogSinkForTest(void (*sink)(std::string_view line));

template <typename T>
LogField F(std::string_view key, const T& value) {
  return LogField{key, StrCat(value), false};
}
// A value that may hold spaces (quoted in the text format).
template <typename T>
LogField Q(std::string_view key, const T& value) {
  return LogField{key, StrCat(value), true};
}

}  // namespace ccrelay::common

// The level is checked before any field is formatted.
#define CCR_LOG(level, event, ...)                                                  \
  do {                                                                              \
    if (::ccrelay::common::LogEnabled(::ccrelay::common::LogLevel::level)) {        \
      ::ccrelay::common::LogLine(::ccrelay::common::LogLevel::level, event, {__VA_ARGS__}); \
    }                                                                               \
  } while (false)
