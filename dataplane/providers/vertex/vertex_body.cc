#include "dataplane/providers/vertex/vertex_body.h"

#include <cstring>

#include <cstddef>
#include <string_view>

namespace ccrelay::providers::vertex {

namespace {

constexpr size_t kNpos = std::string_view::npos;

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t SkipWhitespace(std::string_view s, size_t i) {
  while (i < s.size() && IsJsonWhitespace(s[i])) {
    ++i;
  }
  return i;
}

// Whether the quote at `i` is a string delimiter: not preceded by an odd run of backslashes.
bool IsDelimiterQuote(std::string_view s, size_t i) {
  size_t backslashes = 0;
  while (i > backslashes && s[i - backslashes - 1] == '\\') {
    ++backslashes;
  }
  return backslashes % 2 == 0;
}

// The position after the string whose opening quote is at `i`, or kNpos.
size_t SkipString(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return kNpos;
}

// The position after the value starting at `i`, or kNpos.
size_t SkipValue(std::string_view s, size_t i) {
  if (i >= s.size()) {
    return kNpos;
  }
  if (s[i] == '"') {
    return SkipString(s, i);
  }
  if (s[i] == '{' || s[i] == '[') {
    size_t depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = SkipString(s, i);
        if (i == kNpos) {
          return kNpos;
        }
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return i + 1;
      }
      ++i;
    }
    return kNpos;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !IsJsonWhitespace(s[i])) {
    ++i;
  }
  return i;
}

// Walks the object at `open` ('{'), appending the removal range of its "scope" members.
bool RemoveScopes(std::string_view s, size_t open, ByteRanges* out) {
  size_t i = SkipWhitespace(s, open + 1);
  if (i < s.size() && s[i] == '}') {
    return true;
  }
  size_t comma_before = kNpos;  // the comma before the current member
  while (i < s.size() && s[i] == '"') {
    const size_t member = i;
    const size_t key_end = SkipString(s, i);
    if (key_end == kNpos) {
      return false;
    }
    const bool scope = s.substr(member, key_end - member) == "\"scope\"";
    i = SkipWhitespace(s, key_end);
    if (i >= s.size() || s[i] != ':') {
      return false;
    }
    const size_t value_end = SkipValue(s, SkipWhitespace(s, i + 1));
    if (value_end == kNpos) {
      return false;
    }
    i = SkipWhitespace(s, value_end);
    if (i >= s.size()) {
      return false;
    }
    if (s[i] == ',') {
      const size_t next = SkipWhitespace(s, i + 1);
      if (scope) {
        out->push_back({member, next});
      }
      comma_before = i;
      i = next;
      continue;
    }
    if (s[i] != '}') {
      return false;
    }
    if (scope) {
      out->push_back({comma_before == kNpos ? member : comma_before, value_end});
    }
    return true;
  }
  return false;
}

// The search for "scope" (quotes included): 16 positions at a time with GCC's vector extensions
// (SSE2 on x86-64, NEON on arm64).
constexpr std::string_view kScopeKey = "\"scope\"";
constexpr size_t kBlock = 16;
using Bytes = unsigned char __attribute__((vector_size(kBlock)));
using Words = long long __attribute__((vector_size(kBlock)));

Bytes Load(const char* p) {
  Bytes b;
  std::memcpy(&b, p, kBlock);
  return b;
}

// Byte k is -1 when p[k + o] == kScopeKey[o] for each offset o given, else 0 (k < kBlock).
template <size_t... kOffsets>
auto Filter(const char* p) {
  return ((Load(p + kOffsets) == static_cast<unsigned char>(kScopeKey[kOffsets])) & ...);
}

template <class Mask>
bool Any(const Mask& mask) {
  static_assert(sizeof(Mask) == sizeof(Words));
  Words words;
  std::memcpy(&words, &mask, sizeof(words));
  return (words[0] | words[1]) != 0;
}

// Whether "scope" occurs in `s`. A filter on three of its bytes, "sc?p" (rare in JSON, code and
// prose, where a first-byte search stops at every quote), 64 positions a round; where it passes,
// the exact compare of all seven bytes, still 16 positions at a time. Over 200 KB here: 7 µs
// for a Claude Code body, where glibc's memmem took 35 µs, 20% of the request's relay CPU
// (bench/README.md, "Issue 12"); 25 µs for text full of "escape" (memmem 40-70 µs).
bool ContainsScopeKey(std::string_view s) {
  constexpr size_t kStride = 4 * kBlock;
  const char* p = s.data();
  size_t i = 0;
  // A round reads p[i + 1, i + 3 * kBlock + 6 + kBlock) at the most.
  for (; i + kScopeKey.size() - 1 + kStride <= s.size(); i += kStride) {
    if (!Any(Filter<1, 2, 4>(p + i) | Filter<1, 2, 4>(p + i + kBlock) |
             Filter<1, 2, 4>(p + i + 2 * kBlock) | Filter<1, 2, 4>(p + i + 3 * kBlock))) {
      continue;
    }
    for (size_t b = i; b < i + kStride; b += kBlock) {
      if (Any(Filter<0, 1, 2, 3, 4, 5, 6>(p + b))) {
        return true;
      }
    }
  }
  for (; i + kScopeKey.size() <= s.size(); ++i) {
    if (s.substr(i, kScopeKey.size()) == kScopeKey) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool FindCacheControlScopes(std::string_view body, ByteRanges* out) {
  if (!ContainsScopeKey(body)) {
    return true;  // the common case: nothing to walk
  }
  constexpr std::string_view kKey = "\"cache_control\"";
  const size_t before = out->size();
  for (size_t at = body.find(kKey); at != kNpos; at = body.find(kKey, at + kKey.size())) {
    if (!IsDelimiterQuote(body, at)) {
      continue;  // inside a string
    }
    size_t i = SkipWhitespace(body, at + kKey.size());
    if (i >= body.size() || body[i] != ':') {
      continue;  // a string value, not a key
    }
    i = SkipWhitespace(body, i + 1);
    if (i >= body.size() || body[i] != '{') {
      continue;
    }
    if (!RemoveScopes(body, i, out)) {
      out->resize(before);
      return false;
    }
  }
  return true;
}

}  // namespace ccrelay::providers::vertex
