// Fuzzes SseObserver: the first input byte picks a piece size, the rest is fed whole to one
// observer and in pieces to another; chunking must never change what is observed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dataplane/http/sse_observer.h"

namespace {

void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  const size_t piece = static_cast<size_t>(data[0]) + 1;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);

  ccrelay::http::SseObserver whole;
  whole.Feed(stream);
  ccrelay::http::SseObserver pieces;
  for (size_t i = 0; i < stream.size(); i += piece) {
    pieces.Feed(stream.substr(i, piece));
  }
  Check(whole.events() == pieces.events());
  Check(whole.AtEventBoundary() == pieces.AtEventBoundary());
  Check(whole.saw_message_start() == pieces.saw_message_start());
  Check(whole.saw_message_stop() == pieces.saw_message_stop());
  Check(whole.saw_error() == pieces.saw_error());
  Check(whole.error_type() == pieces.error_type());
  Check(whole.usage().input_tokens == pieces.usage().input_tokens);
  Check(whole.usage().output_tokens == pieces.usage().output_tokens);
  Check(whole.usage().cache_creation_input_tokens == pieces.usage().cache_creation_input_tokens);
  Check(whole.usage().cache_read_input_tokens == pieces.usage().cache_read_input_tokens);
  Check(whole.BufferedBytesForTest() <= (size_t{2} << 20) + 1024);

  ccrelay::http::UsageFromMessageBody(stream);
  return 0;
}
