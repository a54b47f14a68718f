#pragma once

// Helpers shared by the benchmark clients (stream probe, connection scale, cold start).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace ccrelay::bench {

// CLOCK_MONOTONIC in ns: the clock ccr_mock_upstream stamps events with ("mock_t_ns").
inline std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Nearest-rank percentile (p in [0, 100]) of an unsorted sample; 0 for an empty one.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  std::size_t rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

// A field of /proc/PID/status in kB (VmRSS, VmHWM, ...), or -1.
inline long ProcStatusKb(int pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
  }
  return -1;
}

inline bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// A Claude Code model call (headers as in docs/claude-code-wire.md) plus `extra_headers`
// ("name: value\r\n" lines).
inline std::string ClaudeCodeRequest(const std::string& host_port, const std::string& body,
                                     const std::string& extra_headers) {
  std::string r;
  r.reserve(body.size() + 1024);
  r += "POST /v1/messages?beta=true HTTP/1.1\r\n";
  r += "Host: " + host_port + "\r\n";
  r += "Accept: application/json\r\n";
  r += "Content-Type: application/json\r\n";
  r += "User-Agent: claude-cli/2.1.197 (external, cli)\r\n";
  r += "X-Claude-Code-Session-Id: 7c9e6679-7425-40de-944b-e07fc1f90ae7\r\n";
  r += "X-Stainless-Arch: x64\r\nX-Stainless-Lang: js\r\nX-Stainless-OS: Linux\r\n";
  r += "X-Stainless-Package-Version: 0.94.0\r\nX-Stainless-Retry-Count: 0\r\n";
  r += "X-Stainless-Runtime: node\r\nX-Stainless-Runtime-Version: v26.3.0\r\n";
  r += "X-Stainless-Timeout: 600\r\n";
  r += "anthropic-beta: claude-code-20250219,interleaved-thinking-2025-05-14,"
       "context-management-2025-06-27\r\n";
  r += "anthropic-dangerous-direct-browser-access: true\r\n";
  r += "anthropic-version: 2023-06-01\r\n";
  r += "x-api-key: managed-by-cc-relay\r\n";
  r += "x-app: cli\r\n";
  r += extra_headers;
  r += "Connection: keep-alive\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  r += body;
  return r;
}

// Summary of a sample as a JSON object {"n","p50","p90","p99","max","mean"}.
inline std::string SummaryJson(const std::vector<double>& v) {
  double sum = 0;
  double max = 0;
  for (double x : v) {
    sum += x;
    max = std::max(max, x);
  }
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "{\"n\":%zu,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"mean\":%.1f}",
                v.size(), Percentile(v, 50), Percentile(v, 90), Percentile(v, 99), max,
                v.empty() ? 0.0 : sum / static_cast<double>(v.size()));
  return buf;
}

}  // namespace ccrelay::bench
