#pragma once

#include <cstddef>
#include <cstdint>
#include <cstddef>
#include <string_view>

#include "dataplane/http/request_scan.h"

namespace ccrelay::routing {

struct CompiledUser;

// Reads a request header for scenario rules (`match.header`); names are lower case.
class HeaderLookup {
 public:
  virtual ~HeaderLookup() = default;
  // The header's value, "" when absent.
  virtual std::string_view Get(std::string_view name) const = 0;
};

// What routing knows about one request before it is sent: the features rules match and
// strategies weigh. Views into the request (its scanned body info and headers) that outlive the
// routing call. Built by the exchange for every request and by the admin API's route explain
// (from a body or from flags), so both take the same path.
struct RouteRequest {
  std::string_view model;        // the model the client asked for
  bool count_tokens = false;     // POST /v1/messages/count_tokens
  int64_t input_tokens = 0;      // estimated input tokens (about 4 bytes of body per token)
  int64_t max_tokens = 0;        // the body's max_tokens (0: absent)
  bool thinking = false;         // extended thinking on (type enabled or adaptive)
  uint32_t tool_count = 0;       // entries in "tools"
  uint32_t server_tools = 0;     // http::ServerTool bits: Anthropic server tools in "tools"
  std::string_view betas;        // the anthropic-beta header as sent
  const HeaderLookup* headers = nullptr;  // nullptr: no header matches
  std::string_view client_key;   // the relay key's user name ("" none): rules' `users`
  // The relay key's user (null: none): its allowed_providers and allowed_rules narrow Route().
  const CompiledUser* user = nullptr;
  std::string_view body;         // the request body, searched by images() ("": no body)

  // Whether an image content block is anywhere in the messages (http::BodyHasImage on `body`).
  // Found on first use and kept: the search reads the whole body (about 25 us for 200 KB), so
  // only a rule with an `images` condition that is otherwise matched, or cost-based with a
  // provider that cannot take images, pays for it.
  bool images() const {
    if (images_ < 0) {
      images_ = http::BodyHasImage(body) ? 1 : 0;
    }
    return images_ == 1;
  }
  // Sets the answer instead of searching (explain's --images flag, tests).
  void set_images(bool value) { images_ = value ? 1 : 0; }

 private:
  mutable int8_t images_ = -1;  // -1: not searched yet
};

// Input tokens of a request before the upstream counts them: about 4 bytes of JSON per token
// (what Anthropic suggests for English text). Base64 images and JSON punctuation make it an
// overestimate, which errs on the safe side; the real count replaces it as soon as the answer
// reports usage (message_start, or the body's usage). The exchange and route explain both use it.
inline int64_t EstimateInputTokens(size_t body_bytes) {
  return static_cast<int64_t>(body_bytes / 4);
}

}  // namespace ccrelay::routing
