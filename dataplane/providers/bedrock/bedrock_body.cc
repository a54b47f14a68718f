#include "dataplane/providers/bedrock/bedrock_body.h"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "dataplane/providers/betas.h"

namespace ccrelay::providers::bedrock {

namespace {

// Nesting limit of the generic skip (simdjson's default is the same).
constexpr size_t kMaxDepth = 1024;
// Longest decoded key or value compared against a name (beta names are about 45 characters).
constexpr size_t kMaxCompared = 64;

constexpr std::string_view kCountTokensPrefix = R"({"input":{"invokeModel":{"body":")";
constexpr std::string_view kCountTokensSuffix = R"("}}})";

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int HexValue(char c) {
  if (IsDigit(c)) {
    return c - '0';
  }
  return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : c - 'A' + 10;
}

// The first '"', '\\' or control character (< 0x20) in [p, end), or `end`: the bytes that stop
// a string scan. 16 bytes at a time with SSE2, then 8 with the classic "has zero byte" / "has
// byte less than n" word tricks, whose lowest flagged byte is exact.
const char* FindStringSpecial(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote16 = _mm_set1_epi8('"');
  const __m128i backslash16 = _mm_set1_epi8('\\');
  const __m128i control16 = _mm_set1_epi8(0x1f);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote16), _mm_cmpeq_epi8(v, backslash16)),
                     _mm_cmpeq_epi8(_mm_max_epu8(v, control16), control16));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (mask != 0) {
      return p + std::countr_zero(mask);
    }
    p += 16;
  }
#endif
  if constexpr (std::endian::native == std::endian::little) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHighs = 0x8080808080808080ULL;
    while (end - p >= 8) {
      uint64_t v;
      std::memcpy(&v, p, sizeof(v));
      const uint64_t quote = v ^ (kOnes * '"');
      const uint64_t backslash = v ^ (kOnes * '\\');
      const uint64_t special = (((quote - kOnes) & ~quote) | ((backslash - kOnes) & ~backslash) |
                                ((v - kOnes * 0x20) & ~v)) &
                               kHighs;
      if (special != 0) {
        return p + std::countr_zero(special) / 8;
      }
      p += 8;
    }
  }
  while (p != end && *p != '"' && *p != '\\' && static_cast<unsigned char>(*p) >= 0x20) {
    ++p;
  }
  return p;
}

// A JSON string's content decoded for comparison with ASCII names. Without escapes it is a view
// of the body; with escapes it is decoded into `buf_`. A string that is too long, or has an
// escape for a non-ASCII character, compares unequal to every name.
class Compared {
 public:
  Compared(std::string_view raw, bool escaped) {
    if (!escaped) {
      fits_ = raw.size() <= kMaxCompared;
      view_ = raw;
      return;
    }
    size_t size = 0;
    for (size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '\\') {
        // Escapes were validated by the scan: a known letter, or 'u' and four hex digits.
        const char e = raw[++i];
        switch (e) {
          case 'b':
            c = '\b';
            break;
          case 'f':
            c = '\f';
            break;
          case 'n':
            c = '\n';
            break;
          case 'r':
            c = '\r';
            break;
          case 't':
            c = '\t';
            break;
          case 'u': {
            int code = 0;
            for (int k = 1; k <= 4; ++k) {
              code = code * 16 + HexValue(raw[i + static_cast<size_t>(k)]);
            }
            i += 4;
            if (code >= 0x80) {
              fits_ = false;
              return;
            }
            c = static_cast<char>(code);
            break;
          }
          default:  // '"', '\\', '/'
            c = e;
        }
      }
      if (size == buf_.size()) {
        fits_ = false;
        return;
      }
      buf_[size++] = c;
    }
    view_ = std::string_view(buf_.data(), size);
  }

  bool operator==(std::string_view name) const { return fits_ && view_ == name; }
  // The decoded text for a table lookup; a string that does not fit gives one that matches no
  // name (names are printable ASCII).
  std::string_view View() const { return fits_ ? view_ : std::string_view("\x01", 1); }

 private:
  std::array<char, kMaxCompared> buf_;
  std::string_view view_;
  bool fits_ = true;
};

// The top-level members Bedrock InvokeModel accepts (LiteLLM's BedrockInvokeAnthropicMessages
// request type), and those among them the walk looks into.
enum class TopField {
  kDropped,
  kCopied,
  kAnthropicVersion,
  kAnthropicBeta,
  kMaxTokens,
  kSystem,
  kMessages,
  kTools,
  kContextManagement,
};

TopField ClassifyTopField(const Compared& key) {
  struct Entry {
    std::string_view name;
    TopField field;
  };
  static constexpr auto kAllowed = std::to_array<Entry>({
      {"messages", TopField::kMessages},
      {"system", TopField::kSystem},
      {"tools", TopField::kTools},
      {"max_tokens", TopField::kMaxTokens},
      {"anthropic_version", TopField::kAnthropicVersion},
      {"anthropic_beta", TopField::kAnthropicBeta},
      {"context_management", TopField::kContextManagement},
      {"stop_sequences", TopField::kCopied},
      {"temperature", TopField::kCopied},
      {"top_p", TopField::kCopied},
      {"top_k", TopField::kCopied},
      {"tool_choice", TopField::kCopied},
      {"thinking", TopField::kCopied},
      {"metadata", TopField::kCopied},
      {"output_config", TopField::kCopied},
  });
  for (const Entry& entry : kAllowed) {
    if (key == entry.name) {
      return entry.field;
    }
  }
  return TopField::kDropped;
}

// Context-management edit types Bedrock accepts. LiteLLM keeps compact_20260112 only; tool-result
// clearing (clear_tool_uses_20250919, beta context-management-2025-06-27) is documented for
// Bedrock too. clear_thinking_20251015, which Claude Code sends on every request, is rejected.
bool IsAcceptedEdit(const Compared& type) {
  return type == "clear_tool_uses_20250919" || type == "compact_20260112";
}

// Appends `value` as a JSON string: '"', '\\' and control characters escaped, other bytes copied.
void AppendJsonString(std::string_view value, std::string* out) {
  constexpr std::string_view kHex = "0123456789abcdef";
  out->push_back('"');
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xf]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void AppendJsonStringArray(std::span<const std::string_view> values, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      out->push_back(',');
    }
    AppendJsonString(values[i], out);
  }
  out->push_back(']');
}

// Room for what WriteInvokeBody may add to a body.
size_t AddedCapacity(const InvokeBodyOptions& options) {
  size_t size = 128;  // anthropic_version, max_tokens, separators
  for (std::string_view beta : options.betas) {
    size += beta.size() + 8;  // quotes and comma, a few escapes
  }
  return size;
}

// Walks a Messages request body once and writes the InvokeModel body.
//
// Output is made of verbatim spans of the body: `copy_from_` marks the start of the span not
// yet written; Flush(p) writes [copy_from_, p). Removing a member (or array element) writes the
// pending span up to it and moves `copy_from_` past it. Separators: a removed member takes the
// comma before it with it; the first member written in a container after removed ones loses the
// comma before it. So any subset of members can go and the container stays valid JSON.
class Walker {
 public:
  Walker(std::string_view body, const InvokeBodyOptions& options, bool count_tokens,
         std::string* out)
      : begin_(body.data()),
        end_(body.data() + body.size()),
        p_(begin_),
        copy_from_(begin_),
        options_(options),
        filter_(options.filter != nullptr ? *options.filter : *BetaFilter::Default("bedrock")),
        count_tokens_(count_tokens),
        out_(out) {}

  absl::Status Run() {
    SkipWs();
    if (p_ == end_ || *p_ != '{') {
      return absl::InvalidArgumentError("request body is not valid JSON: not a JSON object");
    }
    if (!WalkRoot()) {
      if (p_ >= end_) {
        return absl::InvalidArgumentError("request body is not valid JSON: unexpected end");
      }
      return absl::InvalidArgumentError(
          absl::StrCat("request body is not valid JSON: unexpected byte at offset ", p_ - begin_));
    }
    return absl::OkStatus();
  }

 private:
  // One object or array being walked.
  struct Container {
    const char* comma = nullptr;  // the comma before the current item; nullptr for the first
    const char* item = nullptr;   // the current item's first byte (a member's key quote)
    const char* close = nullptr;  // the closing bracket, once reached
    bool started = false;         // an item was read
    bool emitted = false;         // an item was kept
    std::string_view key;         // members: the raw key, between the quotes
    bool key_escaped = false;
  };

  // --- Scanning (no output) ---

  void SkipWs() {
    while (p_ != end_ && IsJsonWhitespace(*p_)) {
      ++p_;
    }
  }

  // p_ at '"'. Checks the string (escapes, no raw control characters) and moves past it.
  bool ScanString(std::string_view* raw, bool* escaped) {
    const char* const start = ++p_;
    *escaped = false;
    for (;;) {
      p_ = FindStringSpecial(p_, end_);
      if (p_ == end_) {
        return false;
      }
      if (*p_ == '"') {
        *raw = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (*p_ != '\\') {
        return false;  // a raw control character
      }
      *escaped = true;
      if (++p_ == end_) {
        return false;
      }
      switch (*p_) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          ++p_;
          break;
        case 'u':
          if (end_ - p_ < 5 || !IsHexDigit(p_[1]) || !IsHexDigit(p_[2]) || !IsHexDigit(p_[3]) ||
              !IsHexDigit(p_[4])) {
            return false;
          }
          p_ += 5;
          break;
        default:
          return false;
      }
    }
  }

  bool SkipString() {
    std::string_view raw;
    bool escaped = false;
    return ScanString(&raw, &escaped);
  }

  bool SkipDigits() {
    if (p_ == end_ || !IsDigit(*p_)) {
      return false;
    }
    while (p_ != end_ && IsDigit(*p_)) {
      ++p_;
    }
    return true;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool SkipNumber() {
    if (p_ != end_ && *p_ == '-') {
      ++p_;
    }
    if (p_ == end_) {
      return false;
    }
    if (*p_ == '0') {
      ++p_;
    } else if (!SkipDigits()) {
      return false;
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (!SkipDigits()) {
        return false;
      }
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) {
        ++p_;
      }
      if (!SkipDigits()) {
        return false;
      }
    }
    return true;
  }

  bool SkipLiteral(std::string_view literal) {
    if (static_cast<size_t>(end_ - p_) < literal.size() ||
        std::memcmp(p_, literal.data(), literal.size()) != 0) {
      return false;
    }
    p_ += literal.size();
    return true;
  }

  // p_ at a key's quote: reads the key, the colon and the whitespace after it.
  bool SkipKeyAndColon() {
    if (p_ == end_ || *p_ != '"' || !SkipString()) {
      return false;
    }
    SkipWs();
    if (p_ == end_ || *p_ != ':') {
      return false;
    }
    ++p_;
    SkipWs();
    return true;
  }

  // p_ at the first byte of a value: checks the value's grammar and moves past it. Iterative,
  // with a fixed stack of open containers.
  bool SkipValue() {
    std::array<char, kMaxDepth> open;
    size_t depth = 0;
    for (;;) {
      if (p_ == end_) {
        return false;
      }
      switch (*p_) {
        case '"':
          if (!SkipString()) {
            return false;
          }
          break;
        case '{':
          ++p_;
          SkipWs();
          if (p_ != end_ && *p_ == '}') {
            ++p_;
            break;
          }
          if (depth == kMaxDepth) {
            return false;
          }
          open[depth++] = '}';
          if (!SkipKeyAndColon()) {
            return false;
          }
          continue;  // the member's value
        case '[':
          ++p_;
          SkipWs();
          if (p_ != end_ && *p_ == ']') {
            ++p_;
            break;
          }
          if (depth == kMaxDepth) {
            return false;
          }
          open[depth++] = ']';
          continue;  // the first element
        case 't':
          if (!SkipLiteral("true")) {
            return false;
          }
          break;
        case 'f':
          if (!SkipLiteral("false")) {
            return false;
          }
          break;
        case 'n':
          if (!SkipLiteral("null")) {
            return false;
          }
          break;
        default:
          if (!SkipNumber()) {
            return false;
          }
      }
      // A value ended: close the containers that end here, or go on to the next item.
      for (;;) {
        if (depth == 0) {
          return true;
        }
        SkipWs();
        if (p_ == end_) {
          return false;
        }
        if (*p_ == open[depth - 1]) {
          ++p_;
          --depth;
          continue;
        }
        if (*p_ != ',') {
          return false;
        }
        ++p_;
        SkipWs();
        if (open[depth - 1] == '}' && !SkipKeyAndColon()) {
          return false;
        }
        break;
      }
    }
  }

  // p_ at '{' or '['.
  void Open(Container* c) {
    *c = Container();
    ++p_;
  }

  // Reads up to the next member: true with *has and p_ at its value, or true with !*has and p_
  // past the closing brace. False on a syntax error.
  bool NextMember(Container* c, bool* has) {
    if (!NextItem(c, '}', has)) {
      return false;
    }
    if (!*has) {
      return true;
    }
    if (*p_ != '"' || !ScanString(&c->key, &c->key_escaped)) {
      return false;
    }
    SkipWs();
    if (p_ == end_ || *p_ != ':') {
      return false;
    }
    ++p_;
    SkipWs();
    return p_ != end_;
  }

  // Reads up to the next element: true with *has and p_ at it, or true with !*has and p_ past
  // the closing bracket.
  bool NextElement(Container* c, bool* has) { return NextItem(c, ']', has); }

  // Common part: the separator before the next item, or the closing bracket.
  bool NextItem(Container* c, char close, bool* has) {
    *has = false;
    SkipWs();
    if (p_ == end_) {
      return false;
    }
    if (*p_ == close) {
      c->close = p_++;
      return true;
    }
    if (c->started) {
      if (*p_ != ',') {
        return false;
      }
      c->comma = p_++;
      SkipWs();
      if (p_ == end_) {
        return false;
      }
    }
    // A closing bracket right after '[' or '{' was handled above; after a comma it is an error
    // (the item scan below rejects it).
    c->started = true;
    c->item = p_;
    *has = true;
    return true;
  }

  // --- Output ---

  void Flush(const char* upto) {
    out_->append(copy_from_, static_cast<size_t>(upto - copy_from_));
    copy_from_ = upto;
  }

  // The current item stays: if it is the first kept one but not the first in the input, the
  // comma before it goes.
  void Keep(Container* c) {
    if (!c->emitted && c->comma != nullptr) {
      Flush(c->comma);
      copy_from_ = c->comma + 1;
    }
    c->emitted = true;
  }

  // The current item goes, with the comma before it. p_ at its value.
  bool Drop(Container* c) {
    Flush(c->comma != nullptr ? c->comma : c->item);
    if (!SkipValue()) {
      return false;
    }
    copy_from_ = p_;
    return true;
  }

  bool KeepAndSkip(Container* c) {
    Keep(c);
    return SkipValue();
  }

  // --- The walk ---

  bool WalkRoot() {
    Container root;
    Open(&root);
    for (;;) {
      bool has = false;
      if (!NextMember(&root, &has)) {
        return false;
      }
      if (!has) {
        break;
      }
      if (!RootMember(&root)) {
        return false;
      }
    }
    Flush(root.close);
    AppendAddedMembers(root.emitted);
    copy_from_ = root.close;
    SkipWs();
    if (p_ != end_) {
      return false;  // trailing content after the top-level object
    }
    Flush(end_);
    return true;
  }

  bool RootMember(Container* root) {
    const Compared key(root->key, root->key_escaped);
    switch (ClassifyTopField(key)) {
      case TopField::kDropped:
        return Drop(root);
      case TopField::kCopied:
        return KeepAndSkip(root);
      case TopField::kAnthropicVersion:
        has_anthropic_version_ = true;
        return KeepAndSkip(root);
      case TopField::kMaxTokens:
        has_max_tokens_ = true;
        return KeepAndSkip(root);
      case TopField::kAnthropicBeta:
        return AnthropicBeta(root);
      case TopField::kSystem:
        Keep(root);
        return BlockArray(/*nested_content=*/false);
      case TopField::kMessages:
        Keep(root);
        return Messages();
      case TopField::kTools:
        Keep(root);
        return Tools();
      case TopField::kContextManagement:
        return ContextManagement(root);
    }
    return false;
  }

  // The body's own "anthropic_beta": rewritten as its filtered list.
  bool AnthropicBeta(Container* root) {
    if (*p_ != '[') {
      return Drop(root);  // not a list: removed, and header betas may be added
    }
    has_anthropic_beta_ = true;
    const char* const value = p_;
    BetaList kept;
    Container list;
    Open(&list);
    for (;;) {
      bool has = false;
      if (!NextElement(&list, &has)) {
        return false;
      }
      if (!has) {
        break;
      }
      if (*p_ != '"') {
        if (!SkipValue()) {
          return false;
        }
        continue;
      }
      std::string_view raw;
      bool escaped = false;
      if (!ScanString(&raw, &escaped)) {
        return false;
      }
      const BetaLookup lookup = filter_.Lookup(Compared(raw, escaped).View());
      if (lookup.kept()) {
        kept.Add(lookup.name);
      }
    }
    if (kept.empty()) {
      p_ = value;
      return Drop(root);
    }
    Keep(root);
    Flush(value);
    AppendJsonStringArray(kept.values(), out_);
    copy_from_ = p_;
    return true;
  }

  // p_ at a value. If it is an array, calls `element()` with p_ at each element that is an
  // object (which it consumes) and skips the others; any other value is skipped. Every element
  // is kept.
  template <typename Element>
  bool EachObjectElement(Element&& element) {
    if (*p_ != '[') {
      return SkipValue();
    }
    Container array;
    Open(&array);
    for (;;) {
      bool has = false;
      if (!NextElement(&array, &has)) {
        return false;
      }
      if (!has) {
        return true;
      }
      Keep(&array);
      if (!(*p_ == '{' ? element() : SkipValue())) {
        return false;
      }
    }
  }

  // p_ at '{'. Calls `member(&object, key)` with p_ at each member's value; it keeps or drops
  // the member (Keep, Drop) and consumes the value.
  template <typename Member>
  bool EachMember(Member&& member) {
    Container object;
    Open(&object);
    for (;;) {
      bool has = false;
      if (!NextMember(&object, &has)) {
        return false;
      }
      if (!has) {
        return true;
      }
      if (!member(&object, Compared(object.key, object.key_escaped))) {
        return false;
      }
    }
  }

  // An array of content blocks ("system", a message's "content", a tool_result's "content"):
  // cache_control is cleaned in each block object; with `nested_content`, so is the "content"
  // array of each block (a tool_result's). Anything else is copied.
  bool BlockArray(bool nested_content) {
    return EachObjectElement([&] {
      return EachMember([&](Container* block, const Compared& key) {
        Keep(block);
        if (key == "cache_control") {
          return CacheControl();
        }
        if (nested_content && key == "content") {
          return BlockArray(/*nested_content=*/false);
        }
        return SkipValue();
      });
    });
  }

  bool Messages() {
    return EachObjectElement([&] {
      return EachMember([&](Container* message, const Compared& key) {
        Keep(message);
        return key == "content" ? BlockArray(/*nested_content=*/true) : SkipValue();
      });
    });
  }

  // "tools"[i]: "custom" goes, cache_control is cleaned.
  bool Tools() {
    return EachObjectElement([&] {
      return EachMember([&](Container* tool, const Compared& key) {
        if (key == "custom") {
          return Drop(tool);
        }
        Keep(tool);
        return key == "cache_control" ? CacheControl() : SkipValue();
      });
    });
  }

  // A cache_control value: "scope" goes; "ttl" goes unless allowed and "5m" / "1h".
  bool CacheControl() {
    if (*p_ != '{') {
      return SkipValue();
    }
    return EachMember([&](Container* cache_control, const Compared& key) {
      const bool drop =
          key == "scope" || (key == "ttl" && !(options_.allow_cache_ttl && IsAcceptedTtl()));
      return drop ? Drop(cache_control) : KeepAndSkip(cache_control);
    });
  }

  // Looks at a ttl value without moving p_.
  bool IsAcceptedTtl() {
    if (*p_ != '"') {
      return false;
    }
    const char* const value = p_;
    std::string_view raw;
    bool escaped = false;
    bool accepted = false;
    if (ScanString(&raw, &escaped)) {
      const Compared ttl(raw, escaped);
      accepted = ttl == "5m" || ttl == "1h";
    }
    p_ = value;  // a bad string is reported by the skip that follows
    return accepted;
  }

  // "context_management": kept with its accepted edits only, or removed when none is left.
  bool ContextManagement(Container* root) {
    const char* const value = p_;
    bool any_edit = false;
    if (!HasAcceptedEdit(&any_edit)) {
      return false;
    }
    p_ = value;
    if (!any_edit) {
      return Drop(root);
    }
    Keep(root);
    // HasAcceptedEdit found an object.
    return EachMember([&](Container* context_management, const Compared& key) {
      Keep(context_management);
      return key == "edits" && *p_ == '[' ? Edits() : SkipValue();
    });
  }

  // Read-only look at a context_management value: whether it is an object with an "edits" array
  // holding an accepted edit. p_ ends past the value.
  bool HasAcceptedEdit(bool* any) {
    *any = false;
    if (*p_ != '{') {
      return SkipValue();
    }
    return EachMember([&](Container* /*context_management*/, const Compared& key) {
      if (!(key == "edits" && *p_ == '[')) {
        return SkipValue();
      }
      Container edits;
      Open(&edits);
      for (;;) {
        bool has = false;
        if (!NextElement(&edits, &has)) {
          return false;
        }
        if (!has) {
          return true;
        }
        bool accepted = false;
        if (!IsAcceptedEditValue(&accepted)) {
          return false;
        }
        *any = *any || accepted;
      }
    });
  }

  // p_ at an "edits" array: drops the edits Bedrock does not accept.
  bool Edits() {
    Container edits;
    Open(&edits);
    for (;;) {
      bool has = false;
      if (!NextElement(&edits, &has)) {
        return false;
      }
      if (!has) {
        return true;
      }
      const char* const edit = p_;
      bool accepted = false;
      if (!IsAcceptedEditValue(&accepted)) {
        return false;
      }
      p_ = edit;
      if (!(accepted ? KeepAndSkip(&edits) : Drop(&edits))) {
        return false;
      }
    }
  }

  // Read-only: whether the edit at p_ is an object whose (last) "type" is accepted. p_ ends past
  // the value.
  bool IsAcceptedEditValue(bool* accepted) {
    *accepted = false;
    if (*p_ != '{') {
      return SkipValue();
    }
    return EachMember([&](Container* /*edit*/, const Compared& key) {
      if (!(key == "type")) {
        return SkipValue();
      }
      *accepted = false;
      if (*p_ != '"') {
        return SkipValue();
      }
      std::string_view raw;
      bool escaped = false;
      if (!ScanString(&raw, &escaped)) {
        return false;
      }
      *accepted = IsAcceptedEdit(Compared(raw, escaped));
      return true;
    });
  }

  void AppendAddedMembers(bool emitted) {
    auto separator = [&] {
      if (emitted) {
        out_->push_back(',');
      }
      emitted = true;
    };
    if (!has_anthropic_version_) {
      separator();
      out_->append(R"("anthropic_version":)");
      AppendJsonString(kBedrockAnthropicVersion, out_);
    }
    if (!has_anthropic_beta_ && !options_.betas.empty()) {
      separator();
      out_->append(R"("anthropic_beta":)");
      AppendJsonStringArray(options_.betas, out_);
    }
    if (count_tokens_ && !has_max_tokens_) {
      separator();
      out_->append(R"("max_tokens":1)");
    }
  }

  const char* const begin_;
  const char* const end_;
  const char* p_;
  const char* copy_from_;
  const InvokeBodyOptions& options_;
  const BetaFilter& filter_;
  const bool count_tokens_;
  std::string* const out_;
  bool has_anthropic_version_ = false;
  bool has_anthropic_beta_ = false;
  bool has_max_tokens_ = false;
};

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The two base64 characters of every 12-bit value: one lookup per two output characters.
constexpr size_t kBase64PairCount = 4096;
constexpr std::array<char, 2 * kBase64PairCount> kBase64Pairs = [] {
  std::array<char, 2 * kBase64PairCount> pairs{};
  for (size_t v = 0; v < kBase64PairCount; ++v) {
    pairs[2 * v] = kBase64Alphabet[v >> 6];
    pairs[(2 * v) + 1] = kBase64Alphabet[v & 0x3f];
  }
  return pairs;
}();

// Encodes `size` bytes that sit at the end of [dst, dst + encoded) as base64 into the start of
// the same range. Writing group i ends at 4i + 4, at or before where group i + 1 is read
// (encoded - size + 3i + 3, with encoded - size >= size / 3), so nothing is overwritten before it
// is read.
void Base64InPlace(char* dst, size_t size) {
  const size_t encoded = (size + 2) / 3 * 4;
  const char* src = dst + (encoded - size);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const uint32_t bits = (static_cast<uint32_t>(static_cast<unsigned char>(src[i])) << 16) |
                          (static_cast<uint32_t>(static_cast<unsigned char>(src[i + 1])) << 8) |
                          static_cast<uint32_t>(static_cast<unsigned char>(src[i + 2]));
    std::memcpy(dst, &kBase64Pairs[size_t{2} * (bits >> 12)], 2);
    std::memcpy(dst + 2, &kBase64Pairs[size_t{2} * (bits & 0xfff)], 2);
    dst += 4;
  }
  if (i < size) {
    const auto b0 = static_cast<unsigned char>(src[i]);
    const bool two = i + 1 < size;
    const auto b1 = two ? static_cast<unsigned char>(src[i + 1]) : 0;
    *dst++ = kBase64Alphabet[b0 >> 2];
    *dst++ = kBase64Alphabet[((b0 & 0x03) << 4) | (b1 >> 4)];
    *dst++ = two ? kBase64Alphabet[(b1 & 0x0f) << 2] : '=';
    *dst++ = '=';
  }
}

}  // namespace

absl::Status WriteInvokeBody(std::string_view body, const InvokeBodyOptions& options,
                             std::string* out) {
  out->clear();
  out->reserve(body.size() + AddedCapacity(options));
  absl::Status status = Walker(body, options, /*count_tokens=*/false, out).Run();
  if (!status.ok()) {
    out->clear();
  }
  return status;
}

absl::Status WriteCountTokensBody(std::string_view body, const InvokeBodyOptions& options,
                                  std::string* out) {
  out->clear();
  const size_t invoke_estimate = body.size() + AddedCapacity(options);
  out->reserve(kCountTokensPrefix.size() + (invoke_estimate + 2) / 3 * 4 +
               kCountTokensSuffix.size());
  out->append(kCountTokensPrefix);
  absl::Status status = Walker(body, options, /*count_tokens=*/true, out).Run();
  if (!status.ok()) {
    out->clear();
    return status;
  }
  // The InvokeModel body sits after the prefix: move it to the end of the room its base64 needs
  // and encode it forwards into the same bytes.
  const size_t size = out->size() - kCountTokensPrefix.size();
  const size_t encoded = (size + 2) / 3 * 4;
  out->resize(kCountTokensPrefix.size() + encoded);
  char* const base64 = out->data() + kCountTokensPrefix.size();
  std::memmove(base64 + (encoded - size), base64, size);
  Base64InPlace(base64, size);
  out->append(kCountTokensSuffix);
  return absl::OkStatus();
}

}  // namespace ccrelay::providers::bedrock
