#pragma once

#include <cstddef>
#include <string_view>

namespace ccrelay::http {

// The position just past the last complete SSE event in `data` (after the blank line that ends
// it: "\n\n" or "\r\n\r\n"), or 0 when no event is complete. The relay forwards exactly
// data[0, boundary) at once and holds only the rest, the start of an event not yet ended.
size_t LastEventBoundary(std::string_view data);

}  // namespace ccrelay::http
