#include "controlplane/credentials/aws_credentials.h"

#include <cstdlib>
#include <utility>

#include "dataplane/common/str.h"

namespace ccrelay::controlplane::aws {
namespace {

using common::StrCat;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// Reads exactly `n` digits.
bool Digits(std::string_view* s, size_t n, int64_t* out) {
  if (s->size() < n) {
    return false;
  }
  int64_t v = 0;
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

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): no setenv
    if (v == nullptr) {
      return std::nullopt;
    }
    return std::string(v);
  };
}

EnvLookup MapEnvironment(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

bool SameCredentials(const AwsCredentials& a, const AwsCredentials& b) {
  return a.access_key_id == b.access_key_id &&
         a.secret_access_key.Reveal() == b.secret_access_key.Reveal() &&
         a.session_token.Reveal() == b.session_token.Reveal() &&
         a.expires_unix_ms == b.expires_unix_ms;
}

absl::StatusOr<int64_t> ParseAwsTimestamp(std::string_view text) {
  std::string_view s = common::StripWhitespace(text);
  int64_t year = 0;
  int64_t month = 0;
  int64_t day = 0;
  int64_t hour = 0;
  int64_t minute = 0;
  int64_t second = 0;
  const bool ok = Digits(&s, 4, &year) && Char(&s, '-') && Digits(&s, 2, &month) && Char(&s, '-') &&
                  Digits(&s, 2, &day) && (Char(&s, 'T') || Char(&s, 't')) && Digits(&s, 2, &hour) &&
                  Char(&s, ':') && Digits(&s, 2, &minute) && Char(&s, ':') &&
                  Digits(&s, 2, &second);
  const auto bad = [&text] {
    return absl::InvalidArgumentError(
        StrCat("bad timestamp \"", text, "\" (want ISO-8601 like 2019-11-09T13:34:41Z)"));
  };
  if (!ok || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    return bad();
  }
  int64_t millis = 0;
  if (Char(&s, '.')) {
    int64_t scale = 100;
    size_t n = 0;
    while (!s.empty() && s.front() >= '0' && s.front() <= '9') {
      millis += (s.front() - '0') * scale;
      scale /= 10;
      s.remove_prefix(1);
      ++n;
    }
    if (n == 0) {
      return bad();
    }
  }
  int64_t offset_minutes = 0;
  if (!Char(&s, 'Z') && !Char(&s, 'z')) {
    if (s.empty() || (s.front() != '+' && s.front() != '-')) {
      return bad();
    }
    const int64_t sign = s.front() == '-' ? -1 : 1;
    s.remove_prefix(1);
    int64_t oh = 0;
    int64_t om = 0;
    if (!Digits(&s, 2, &oh)) {
      return bad();
    }
    Char(&s, ':');  // "+hh:mm" or "+hhmm"
    if (!Digits(&s, 2, &om)) {
      return bad();
    }
    offset_minutes = sign * (oh * 60 + om);
  }
  if (!s.empty()) {
    return bad();
  }
  const int64_t days = DaysFromCivil(year, month, day);
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

std::string Redact(std::string text, std::initializer_list<std::string_view> secrets) {
  for (const std::string_view secret : secrets) {
    if (secret.empty()) {
      continue;
    }
    const std::string replacement = StrCat("<redacted:", common::FingerprintOf(secret), ">");
    size_t at = 0;
    while ((at = text.find(secret, at)) != std::string::npos) {
      text.replace(at, secret.size(), replacement);
      at += replacement.size();
    }
  }
  return text;
}

}  // namespace ccrelay::controlplane::aws
