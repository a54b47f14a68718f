#include "dataplane/common/timestamps.h"

#include <array>
#include <chrono>
#include <cstdio>

#include "dataplane/common/str.h"

namespace ccrelay::common {

namespace {

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
  s = StripWhitespace(s);
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

std::string FormatRfc3339(int64_t unix_ms) {
  const std::chrono::sys_seconds t{std::chrono::floor<std::chrono::seconds>(
      std::chrono::milliseconds(unix_ms))};
  const std::chrono::sys_days day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<std::chrono::seconds> hms{t - day};
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<long long>(hms.hours().count()),
                static_cast<long long>(hms.minutes().count()),
                static_cast<long long>(hms.seconds().count()));
  return buf;
}

}  // namespace ccrelay::common
