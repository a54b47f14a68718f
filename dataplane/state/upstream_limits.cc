#include "dataplane/state/upstream_limits.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "dataplane/common/str.h"

namespace ccrelay::state {

namespace {

constexpr std::string_view kPrefix = "anthropic-ratelimit-";

UnifiedStatus ParseUnifiedStatus(std::string_view v) {
  v = common::StripWhitespace(v);
  if (common::EqualsIgnoreCase(v, "allowed")) {
    return UnifiedStatus::kAllowed;
  }
  if (common::EqualsIgnoreCase(v, "allowed_warning")) {
    return UnifiedStatus::kAllowedWarning;
  }
  if (common::EqualsIgnoreCase(v, "rejected")) {
    return UnifiedStatus::kRejected;
  }
  return UnifiedStatus::kUnknown;
}

// A non-negative integer, possibly with a fraction ("12.5" -> 12); -1 if not a number.
int64_t ParseCount(std::string_view v) {
  v = common::StripWhitespace(v);
  const size_t dot = v.find('.');
  if (dot != std::string_view::npos) {
    v = v.substr(0, dot);
  }
  int64_t out = -1;
  if (!common::ParseUint(v, &out)) {
    return -1;
  }
  return out;
}

// Unix seconds (maybe fractional) -> ms; -1 if not a number.
int64_t ParseUnixSecondsMs(std::string_view v) {
  v = common::StripWhitespace(v);
  const size_t dot = v.find('.');
  std::string_view whole = v.substr(0, dot);
  int64_t seconds = 0;
  if (!common::ParseUint(whole, &seconds)) {
    return -1;
  }
  int64_t millis = 0;
  if (dot != std::string_view::npos) {
    std::string_view frac = v.substr(dot + 1);
    int64_t scale = 100;
    for (char c : frac) {
      if (c < '0' || c > '9') {
        return -1;
      }
      millis += (c - '0') * scale;
      scale /= 10;
    }
  }
  return seconds * 1000 + millis;
}

bool ConsumePrefixIgnoreCase(std::string_view* s, std::string_view prefix) {
  if (!common::StartsWithIgnoreCase(*s, prefix)) {
    return false;
  }
  s->remove_prefix(prefix.size());
  return true;
}

void SetFamilyField(LimitFamily* family, std::string_view field, std::string_view value) {
  if (common::EqualsIgnoreCase(field, "limit")) {
    family->limit = ParseCount(value);
  } else if (common::EqualsIgnoreCase(field, "remaining")) {
    family->remaining = ParseCount(value);
  } else if (common::EqualsIgnoreCase(field, "reset")) {
    family->reset_unix_ms = ParseRfc3339Ms(common::StripWhitespace(value)).value_or(-1);
  }
}

}  // namespace

void UpstreamLimits::Add(std::string_view name, std::string_view value, int64_t now_unix_ms) {
  if (common::EqualsIgnoreCase(name, "retry-after")) {
    value = common::StripWhitespace(value);
    const int64_t seconds = ParseUnixSecondsMs(value);
    if (seconds >= 0) {
      retry_after_ms = seconds;
    } else if (std::optional<int64_t> at = ParseHttpDateMs(value); at.has_value()) {
      retry_after_ms = std::max<int64_t>(0, *at - now_unix_ms);
    }
    return;
  }
  std::string_view rest = name;
  if (!ConsumePrefixIgnoreCase(&rest, kPrefix)) {
    return;
  }
  if (ConsumePrefixIgnoreCase(&rest, "unified-")) {
    if (common::EqualsIgnoreCase(rest, "status")) {
      unified = ParseUnifiedStatus(value);
      has_unified = true;
    } else if (common::EqualsIgnoreCase(rest, "5h-status")) {
      unified_5h = ParseUnifiedStatus(value);
      has_unified = true;
    } else if (common::EqualsIgnoreCase(rest, "7d-status")) {
      unified_7d = ParseUnifiedStatus(value);
      has_unified = true;
    } else if (common::EqualsIgnoreCase(rest, "reset")) {
      unified_reset_unix_ms = ParseUnixSecondsMs(value);
      has_unified = true;
    } else if (common::EqualsIgnoreCase(rest, "5h-reset")) {
      unified_5h_reset_unix_ms = ParseUnixSecondsMs(value);
      has_unified = true;
    } else if (common::EqualsIgnoreCase(rest, "7d-reset")) {
      unified_7d_reset_unix_ms = ParseUnixSecondsMs(value);
      has_unified = true;
    }
    return;
  }
  struct Family {
    std::string_view prefix;
    LimitFamily UpstreamLimits::*member;
  };
  static constexpr std::array<Family, 4> kFamilies = {{
      {"requests-", &UpstreamLimits::requests},
      {"tokens-", &UpstreamLimits::tokens},
      {"input-tokens-", &UpstreamLimits::input_tokens},
      {"output-tokens-", &UpstreamLimits::output_tokens},
  }};
  for (const Family& f : kFamilies) {
    std::string_view field = rest;
    if (ConsumePrefixIgnoreCase(&field, f.prefix)) {
      SetFamilyField(&(this->*f.member), field, value);
      has_standard = true;
      return;
    }
  }
}

std::optional<int64_t> UpstreamLimits::UnifiedRejectedUntil() const {
  const bool rejected =
      unified == UnifiedStatus::kRejected ||
      (unified == UnifiedStatus::kUnknown &&
       (unified_5h == UnifiedStatus::kRejected || unified_7d == UnifiedStatus::kRejected));
  if (!rejected) {
    return std::nullopt;
  }
  if (unified_reset_unix_ms >= 0) {
    return unified_reset_unix_ms;
  }
  int64_t until = -1;
  if (unified_5h == UnifiedStatus::kRejected) {
    until = std::max(until, unified_5h_reset_unix_ms);
  }
  if (unified_7d == UnifiedStatus::kRejected) {
    until = std::max(until, unified_7d_reset_unix_ms);
  }
  if (until < 0) {
    until = std::max(unified_5h_reset_unix_ms, unified_7d_reset_unix_ms);
  }
  return until;
}

}  // namespace ccrelay::state
