#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ccrelay::common {

// Timestamps that upstreams and credential services write, as unix milliseconds.

// RFC 3339 / ISO 8601 "2030-01-01T00:00:00Z", with an optional fraction and a +hh:mm / -hh:mm
// offset (Anthropic's rate-limit resets, AWS credential expirations); nullopt when malformed.
std::optional<int64_t> ParseRfc3339Ms(std::string_view text);
// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" (Retry-After as a date).
std::optional<int64_t> ParseHttpDateMs(std::string_view text);
// Unix milliseconds as RFC 3339 in UTC, to the second: "2030-01-01T00:00:00Z".
std::string FormatRfc3339(int64_t unix_ms);

}  // namespace ccrelay::common
