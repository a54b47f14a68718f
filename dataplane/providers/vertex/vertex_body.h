#pragma once

#include <cstddef>
#include <string_view>

#include "absl/container/inlined_vector.h"

namespace ccrelay::providers::vertex {

// A byte range of a request body to remove.
struct ByteRange {
  size_t begin = 0;
  size_t end = 0;
};
using ByteRanges = absl::InlinedVector<ByteRange, 8>;

// Finds every "scope" member of a "cache_control" object in `body` (a JSON document that passed
// ScanRequestBody) and appends its removal range to `out`: the member with the comma after it (and
// the whitespace after that comma), or, for the last member, with the comma before it. Vertex
// refuses cache_control.scope (LiteLLM strips it too).
//
// Cheap for ordinary bodies: nothing is walked unless the bytes "scope" (quotes included) occur;
// then only the "cache_control" objects are walked, each found by its key. A key or string is
// recognised by its unescaped opening quote (inside a JSON string every quote is escaped), so
// text that merely mentions cache_control is never touched. Keys written with escapes
// ("sc\u006fpe") are not recognised. Ranges come out sorted and never overlap. Returns false
// (and leaves `out` as it was) if a cache_control object cannot be walked.
bool FindCacheControlScopes(std::string_view body, ByteRanges* out);

}  // namespace ccrelay::providers::vertex
