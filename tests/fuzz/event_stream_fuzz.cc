// Fuzzes the AWS event-stream decoder and the Bedrock -> Anthropic SSE transcoder. Input: byte 0
// picks where the stream is split (and how small the pieces of a third pass are); bit 0 of
// byte 1 asks for the CRCs of every well-framed message to be recomputed first (so that mutated
// headers and payloads get past the checksums); the rest is the body. Decoding it whole, in two
// pieces and in small pieces must give the same SSE bytes and the same verdict, and never crash.
// The body is also run through the translators of non-streamed answers.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include <zlib.h>

#include "dataplane/http/sse_observer.h"
#include "dataplane/providers/bedrock/bedrock_errors.h"
#include "dataplane/providers/bedrock/bedrock_stream_decoder.h"

namespace {

void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

uint32_t LoadBe32(const std::string& s, size_t at) {
  return (uint32_t{static_cast<unsigned char>(s[at])} << 24) |
         (uint32_t{static_cast<unsigned char>(s[at + 1])} << 16) |
         (uint32_t{static_cast<unsigned char>(s[at + 2])} << 8) |
         uint32_t{static_cast<unsigned char>(s[at + 3])};
}

void StoreBe32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    (*s)[at + static_cast<size_t>(i)] = static_cast<char>((v >> (24 - 8 * i)) & 0xFF);
  }
}

uint32_t Crc(const std::string& s, size_t at, size_t n) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(s.data() + at), static_cast<uInt>(n)));
}

// Recomputes both CRCs of each message whose length fits, front to back.
void RepairCrcs(std::string* s) {
  size_t at = 0;
  while (s->size() - at >= 16) {
    const uint32_t total = LoadBe32(*s, at);
    if (total < 16 || total > s->size() - at) {
      return;
    }
    StoreBe32(s, at + 8, Crc(*s, at, 8));
    StoreBe32(s, at + total - 4, Crc(*s, at, total - 4));
    at += total;
  }
}

struct Result {
  bool ok = true;
  std::string out;
};

Result Transcode(std::string_view body, size_t piece) {
  Result r;
  ccrelay::providers::bedrock::EventStreamToSse decoder;
  size_t at = 0;
  do {
    const std::string_view chunk = body.substr(at, piece);
    at += chunk.size();
    if (!decoder.Decode(chunk, at >= body.size(), &r.out).ok()) {
      r.ok = false;
      break;
    }
  } while (at < body.size());
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  std::string body(reinterpret_cast<const char*>(data + 2), size - 2);
  if ((data[1] & 1) != 0) {
    RepairCrcs(&body);
  }
  const size_t cut = body.empty() ? 0 : data[0] % (body.size() + 1);

  const Result whole = Transcode(body, body.size() + 1);
  ccrelay::providers::bedrock::EventStreamToSse two;
  Result split;
  const std::string_view view = body;
  split.ok = two.Decode(view.substr(0, cut), false, &split.out).ok() &&
             two.Decode(view.substr(cut), true, &split.out).ok();
  const Result small = Transcode(body, static_cast<size_t>(data[0] % 7) + 1);
  // On success the output is the same whatever the split; on failure each run stops at the same
  // frame, though the output before it may differ by what a split let out early.
  Check(whole.ok == split.ok && whole.ok == small.ok);
  if (whole.ok) {
    Check(whole.out == split.out && whole.out == small.out);
  }
  // Whatever comes out is SSE the relay's observer can read.
  ccrelay::http::SseObserver observer;
  observer.Feed(whole.out);
  Check(observer.AtEventBoundary());

  (void)ccrelay::providers::bedrock::TranslateBedrockError(400, "", body);
  (void)ccrelay::providers::bedrock::TranslateCountTokens(body);
  return 0;
}
