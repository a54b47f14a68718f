#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "dataplane/common/timestamps.h"

namespace ccrelay::state {

// One anthropic-ratelimit-<family>-{limit,remaining,reset} triple (-1: not sent).
struct LimitFamily {
  int64_t limit = -1;
  int64_t remaining = -1;
  int64_t reset_unix_ms = -1;  // RFC 3339 in the header
};

// anthropic-ratelimit-unified-status (subscription traffic; observed, not documented).
enum class UnifiedStatus { kUnknown, kAllowed, kAllowedWarning, kRejected };

// What an upstream response says about its key's rate limits (protocols.md 1.8). Fed header by
// header (Add), so nothing is allocated; unrelated headers are ignored at the cost of a prefix
// compare.
struct UpstreamLimits {
  LimitFamily requests;       // anthropic-ratelimit-requests-*
  LimitFamily tokens;         // anthropic-ratelimit-tokens-* (most restrictive token limit)
  LimitFamily input_tokens;   // anthropic-ratelimit-input-tokens-*
  LimitFamily output_tokens;  // anthropic-ratelimit-output-tokens-*

  UnifiedStatus unified = UnifiedStatus::kUnknown;
  UnifiedStatus unified_5h = UnifiedStatus::kUnknown;  // -unified-5h-status
  UnifiedStatus unified_7d = UnifiedStatus::kUnknown;  // -unified-7d-status
  int64_t unified_reset_unix_ms = -1;                  // -unified-reset (unix seconds)
  int64_t unified_5h_reset_unix_ms = -1;               // -unified-5h-reset
  int64_t unified_7d_reset_unix_ms = -1;               // -unified-7d-reset

  // retry-after: delay-seconds or an HTTP date, as milliseconds from now (-1: absent/invalid).
  int64_t retry_after_ms = -1;

  // True once any anthropic-ratelimit-* header of the four standard families was seen.
  bool has_standard = false;
  // True once any anthropic-ratelimit-unified-* status or reset was seen.
  bool has_unified = false;

  // Feeds one response header (name compared case-insensitively). `now_unix_ms` converts an
  // HTTP-date retry-after into a delay.
  void Add(std::string_view name, std::string_view value, int64_t now_unix_ms);

  // When the subscription window is exhausted (status rejected), until when (unix ms): the
  // unified reset, else the reset of a rejected 5h/7d window, else the later of the two window
  // resets; nullopt when not rejected, -1 inside the optional when rejected with no reset.
  std::optional<int64_t> UnifiedRejectedUntil() const;
};

// The timestamp parsers live in dataplane/common/timestamps.h (the control plane uses them too).
using common::ParseHttpDateMs;
using common::ParseRfc3339Ms;

}  // namespace ccrelay::state
