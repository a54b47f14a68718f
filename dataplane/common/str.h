#pragma once

// String helpers over std::string_view. Debian 12's Abseil is built with its own
// absl::string_view (not an alias of std::string_view), so absl::StrCat & co. do not accept a
// std::string_view; these do. Header-only and allocation-conscious: StrCat sizes once.
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace ccrelay::common {

// One argument of StrCat/StrAppend: text or an integer (formatted in decimal).
class StrPiece {
 public:
  // Any contiguous text: std::string, std::string_view, absl::string_view, Beast's string_view.
  template <typename S, typename = decltype(std::declval<const S&>().data()),
            typename = decltype(std::declval<const S&>().size())>
  StrPiece(const S& s) : view_(s.data(), s.size()) {}  // NOLINT(google-explicit-constructor)
  StrPiece(const char* s) : view_(s) {}               // NOLINT(google-explicit-constructor)
  StrPiece(char c) : buf_{c}, view_(buf_, 1) {}       // NOLINT(google-explicit-constructor)
  template <typename T, typename = std::enable_if_t<std::is_integral_v<T> &&
                                                    !std::is_same_v<T, char> &&
                                                    !std::is_same_v<T, bool>>>
  StrPiece(T v) {  // NOLINT(google-explicit-constructor)
    auto r = std::to_chars(buf_, buf_ + sizeof(buf_), v);
    view_ = std::string_view(buf_, static_cast<size_t>(r.ptr - buf_));
  }
  StrPiece(bool b) : view_(b ? "true" : "false") {}  // NOLINT(google-explicit-constructor)
  StrPiece(const StrPiece&) = delete;
  StrPiece& operator=(const StrPiece&) = delete;

  std::string_view view() const { return view_; }

 private:
  char buf_[24] = {};
  std::string_view view_;
};

inline void StrAppendPieces(std::string* out, std::initializer_list<std::string_view> parts) {
  size_t n = out->size();
  for (auto p : parts) {
    n += p.size();
  }
  out->reserve(n);
  for (auto p : parts) {
    out->append(p);
  }
}

template <typename... Args>
void StrAppend(std::string* out, const Args&... args) {
  StrAppendPieces(out, {StrPiece(args).view()...});
}

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  StrAppendPieces(&out, {StrPiece(args).view()...});
  return out;
}

inline char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) {
      return false;
    }
  }
  return true;
}

inline bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && EqualsIgnoreCase(s.substr(0, prefix.size()), prefix);
}

inline bool ConsumePrefix(std::string_view* s, std::string_view prefix) {
  if (!s->starts_with(prefix)) {
    return false;
  }
  s->remove_prefix(prefix.size());
  return true;
}

inline bool ConsumeSuffix(std::string_view* s, std::string_view suffix) {
  if (!s->ends_with(suffix)) {
    return false;
  }
  s->remove_suffix(suffix.size());
  return true;
}

inline bool ConsumeSuffix(std::string* s, std::string_view suffix) {
  if (!std::string_view(*s).ends_with(suffix)) {
    return false;
  }
  s->resize(s->size() - suffix.size());
  return true;
}

inline std::string_view StripWhitespace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

inline std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = AsciiLower(c);
  }
  return out;
}

// Decimal unsigned integer, the whole string; false on anything else.
template <typename T>
bool ParseUint(std::string_view s, T* out) {
  if (s.empty()) {
    return false;
  }
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// "%x" of a size, for chunked framing.
inline std::string Hex(size_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v, 16);
  return std::string(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace ccrelay::common
