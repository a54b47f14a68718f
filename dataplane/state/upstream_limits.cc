#include "dataplane/state/upstream_limits.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "dataplane/common/str.h"

namespace ccrelay::state {

namespace {

constexpr std::string_view kPrefix = "anthropic-ratelimit-";

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// Exactly `n` digits at the front of *s, consumed.
bool Digits(std::string_view* s, size_t n, int* out) {
  if (s->size() < n) {
    return false;
  }
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = (*s)[i];
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  s->remove_prefix(n);
  *out = v;
  return true;
}

bool Char(std::string_view* s, char c) {
  if (s->empty() || s->front() != c) {
    return false;
  }
  s->remove_prefix(1);
  return true;
}

std::optional<int64_t> ToUnixMs(int year, int month, int day, int hour, int minute, int second,
                                int millis) {
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return ((days * 24 + hour) * 60 + minute) * 60000 + int64_t{second} * 1000 + millis;
}

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

std::optional<int64_t> ParseRfc3339Ms(std::string_view s) {
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!Digits(&s, 4, &year) || !Char(&s, '-') || !Digits(&s, 2, &month) || !Char(&s, '-') ||
      !Digits(&s, 2, &day)) {
    return std::nullopt;
  }
  if (!Char(&s, 'T') && !Char(&s, 't') && !Char(&s, ' ')) {
    return std::nullopt;
  }
  if (!Digits(&s, 2, &hour) || !Char(&s, ':') || !Digits(&s, 2, &minute) || !Char(&s, ':') ||
      !Digits(&s, 2, &second)) {
    return std::nullopt;
  }
  int millis = 0;
  if (Char(&s, '.')) {
    int scale = 100;
    size_t n = 0;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
      millis += (s.front() - '0') * scale;
      scale /= 10;
      s.remove_prefix(1);
      ++n;
    }
    if (n == 0) {
      return std::nullopt;
    }
  }
  int64_t offset_ms = 0;
  if (Char(&s, 'Z') || Char(&s, 'z')) {
  } else if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    const int sign = s.front() == '+' ? 1 : -1;
    s.remove_prefix(1);
    int oh = 0;
    int om = 0;
    if (!Digits(&s, 2, &oh) || !Char(&s, ':') || !Digits(&s, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_ms = sign * (int64_t{oh} * 3600000 + int64_t{om} * 60000);
  } else {
    return std::nullopt;
  }
  if (!s.empty()) {
    return std::nullopt;
  }
  std::optional<int64_t> ms = ToUnixMs(year, month, day, hour, minute, second, millis);
  if (!ms.has_value()) {
    return std::nullopt;
  }
  return *ms - offset_ms;
}

std::optional<int64_t> ParseHttpDateMs(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  s = common::StripWhitespace(s);
  // "Sun, " then "06 Nov 1994 08:49:37 GMT".
  const size_t comma = s.find(", ");
  if (comma == std::string_view::npos || comma != 3) {
    return std::nullopt;
  }
  s.remove_prefix(comma + 2);
  int day = 0;
  int year = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!Digits(&s, 2, &day) || !Char(&s, ' ') || s.size() < 4) {
    return std::nullopt;
  }
  int month = 0;
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (s.substr(0, 3) == kMonths[i]) {
      month = static_cast<int>(i) + 1;
    }
  }
  s.remove_prefix(3);
  if (month == 0 || !Char(&s, ' ') || !Digits(&s, 4, &year) || !Char(&s, ' ') ||
      !Digits(&s, 2, &hour) || !Char(&s, ':') || !Digits(&s, 2, &minute) || !Char(&s, ':') ||
      !Digits(&s, 2, &second) || s != " GMT") {
    return std::nullopt;
  }
  return ToUnixMs(year, month, day, hour, minute, second, 0);
}

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
