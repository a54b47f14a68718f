#include "dataplane/common/log.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_format.h"
#include "dataplane/common/status_macros.h"

namespace ccrelay::common {

std::atomic<int> g_log_level{static_cast<int>(LogLevel::kInfo)};

namespace {
std::atomic<int> g_log_format{static_cast<int>(LogFormat::kText)};
std::atomic<void (*)(std::string_view)> g_sink{nullptr};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "info";
}

void AppendJsonString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string Timestamp() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tm_utc{};
  gmtime_r(&ts.tv_sec, &tm_utc);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm_utc.tm_year + 1900,
                         tm_utc.tm_mon + 1, tm_utc.tm_mday, tm_utc.tm_hour, tm_utc.tm_min,
                         tm_utc.tm_sec, static_cast<int>(ts.tv_nsec / 1000000));
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) {
    return true;
  }
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}
}  // namespace

void SetLogLevel(LogLevel level) { g_log_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_log_level.load()); }
void SetLogFormat(LogFormat format) { g_log_format.store(static_cast<int>(format)); }

bool ParseLogLevel(std::string_view name, LogLevel* out) {
  if (name == "debug") {
    *out = LogLevel::kDebug;
  } else if (name == "info") {
    *out = LogLevel::kInfo;
  } else if (name == "warn" || name == "warning") {
    *out = LogLevel::kWarn;
  } else if (name == "error") {
    *out = LogLevel::kError;
  } else if (name == "off") {
    *out = LogLevel::kOff;
  } else {
    return false;
  }
  return true;
}

void SetLogSinkForTest(void (*sink)(std::string_view line)) { g_sink.store(sink); }

void LogLine(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  std::string line;
  line.reserve(256);
  if (static_cast<LogFormat>(g_log_format.load()) == LogFormat::kJson) {
    line += "{\"ts\":";
    AppendJsonString(line, Timestamp());
    line += ",\"level\":";
    AppendJsonString(line, LevelName(level));
    line += ",\"event\":";
    AppendJsonString(line, event);
    for (const LogField& f : fields) {
      line.push_back(',');
      AppendJsonString(line, f.key);
      line.push_back(':');
      AppendJsonString(line, f.value);
    }
    line += "}\n";
  } else {
    line += Timestamp();
    line.push_back(' ');
    line += LevelName(level);
    line.push_back(' ');
    line += event;
    for (const LogField& f : fields) {
      line.push_back(' ');
      line += f.key;
      line.push_back('=');
      if (f.quoted || NeedsQuotes(f.value)) {
        AppendJsonString(line, f.value);
      } else {
        line += f.value;
      }
    }
    line.push_back('\n');
  }
  if (auto* sink = g_sink.load(); sink != nullptr) {
    sink(line);
    return;
  }
  // One write(2) per line so concurrent lines never interleave.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) {
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void CheckFailed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "CCR_CHECK failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

void ApplyLogSettings(std::string_view level, std::string_view format) {
  LogLevel lv = LogLevel::kInfo;
  if (!level.empty() && !ParseLogLevel(level, &lv)) {
    lv = LogLevel::kInfo;
  }
  SetLogLevel(lv);
  SetLogFormat(format == "json" ? LogFormat::kJson : LogFormat::kText);
}

}  // namespace ccrelay::common
