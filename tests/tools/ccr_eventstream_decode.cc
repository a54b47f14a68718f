// Decodes an AWS event stream (application/vnd.amazon.eventstream) read from stdin with the
// relay's EventStreamDecoder, for tests/e2e/eventstream_botocore_test.sh to compare with botocore.
// One JSON line per message:
//   {"headers":[{"name":"...","type":N,"value":V},...],"payload":"<base64>"}
// V: true/false (types 0, 1), a number (2-5 and 8, the timestamp in milliseconds), a string (7),
// the base64 of the bytes (6 and 9). On a decoding error, a last line {"error":"..."} and exit
// status 1. `--piece N` feeds stdin to the decoder in pieces of N bytes (default: whole).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include <openssl/evp.h>

#include "dataplane/common/str.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/providers/bedrock/event_stream.h"

namespace {

using ccrelay::providers::bedrock::EventStreamDecoder;
using ccrelay::providers::bedrock::EventStreamHeader;
using ccrelay::providers::bedrock::EventStreamHeaderType;
using ccrelay::providers::bedrock::EventStreamMessage;

std::string Base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

void AppendValue(const EventStreamHeader& h, std::string* line) {
  switch (h.type) {
    case EventStreamHeaderType::kBoolTrue:
    case EventStreamHeaderType::kBoolFalse:
      line->append(h.int_value != 0 ? "true" : "false");
      break;
    case EventStreamHeaderType::kByte:
    case EventStreamHeaderType::kShort:
    case EventStreamHeaderType::kInteger:
    case EventStreamHeaderType::kLong:
    case EventStreamHeaderType::kTimestamp:
      ccrelay::common::StrAppend(line, h.int_value);
      break;
    case EventStreamHeaderType::kString:
      line->append(ccrelay::http::JsonQuote(h.bytes));
      break;
    case EventStreamHeaderType::kByteArray:
    case EventStreamHeaderType::kUuid:
      ccrelay::common::StrAppend(line, "\"", Base64(h.bytes), "\"");
      break;
  }
}

absl::Status PrintMessage(const EventStreamMessage& m) {
  std::string line = R"({"headers":[)";
  bool first = true;
  for (const EventStreamHeader& h : m.headers) {
    if (!first) {
      line.push_back(',');
    }
    first = false;
    ccrelay::common::StrAppend(&line, R"({"name":)", ccrelay::http::JsonQuote(h.name),
                               R"(,"type":)", static_cast<int>(h.type), R"(,"value":)");
    AppendValue(h, &line);
    line.push_back('}');
  }
  ccrelay::common::StrAppend(&line, R"(],"payload":")", Base64(m.payload), "\"}\n");
  std::fwrite(line.data(), 1, line.size(), stdout);
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  size_t piece = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--piece" && i + 1 < argc) {
      piece = static_cast<size_t>(std::strtoull(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: %s [--piece N] < event-stream\n", argv[0]);
      return 2;
    }
  }
  std::ios::sync_with_stdio(false);
  const std::string input((std::istreambuf_iterator<char>(std::cin)),
                          std::istreambuf_iterator<char>());
  if (piece == 0) {
    piece = input.size() + 1;
  }
  EventStreamDecoder decoder;
  absl::Status status;
  for (size_t at = 0; at < input.size() && status.ok(); at += piece) {
    status = decoder.Feed(std::string_view(input).substr(at, piece), PrintMessage);
  }
  if (status.ok()) {
    status = decoder.Finish();
  }
  if (!status.ok()) {
    const std::string_view message(status.message().data(), status.message().size());
    const std::string line =
        ccrelay::common::StrCat(R"({"error":)", ccrelay::http::JsonQuote(message), "}\n");
    std::fwrite(line.data(), 1, line.size(), stdout);
    return 1;
  }
  return 0;
}
