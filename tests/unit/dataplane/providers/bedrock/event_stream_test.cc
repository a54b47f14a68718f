#include "dataplane/providers/bedrock/event_stream.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <boost/beast/http/fields.hpp>

#include "dataplane/http/sse_observer.h"
#include "dataplane/providers/bedrock/bedrock_errors.h"
#include "dataplane/providers/bedrock/bedrock_stream_decoder.h"

namespace ccrelay::providers::bedrock {
namespace {

using ::testing::HasSubstr;

// ---- an encoder of our own, with a bitwise CRC-32 independent of zlib ----

uint32_t TestCrc32(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (const char ch : data) {
    crc ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) {
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
  }
  return ~crc;
}

void PutBe(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
}

struct TestHeader {
  std::string name;
  uint8_t type = 7;
  int64_t int_value = 0;
  std::string bytes;
};

TestHeader Str(std::string name, std::string value) {
  return {std::move(name), 7, 0, std::move(value)};
}

std::string EncodeHeaders(const std::vector<TestHeader>& headers) {
  std::string out;
  for (const TestHeader& h : headers) {
    out.push_back(static_cast<char>(h.name.size()));
    out.append(h.name);
    out.push_back(static_cast<char>(h.type));
    switch (h.type) {
      case 2:
        PutBe(&out, static_cast<uint64_t>(h.int_value), 1);
        break;
      case 3:
        PutBe(&out, static_cast<uint64_t>(h.int_value), 2);
        break;
      case 4:
        PutBe(&out, static_cast<uint64_t>(h.int_value), 4);
        break;
      case 5:
      case 8:
        PutBe(&out, static_cast<uint64_t>(h.int_value), 8);
        break;
      case 6:
      case 7:
        PutBe(&out, h.bytes.size(), 2);
        out.append(h.bytes);
        break;
      case 9:
        out.append(h.bytes);
        break;
      default:
        break;
    }
  }
  return out;
}

// A frame with the given raw header block (lengths and CRCs computed).
std::string FrameRaw(std::string_view header_block, std::string_view payload) {
  std::string f;
  PutBe(&f, 16 + header_block.size() + payload.size(), 4);
  PutBe(&f, header_block.size(), 4);
  PutBe(&f, TestCrc32(f), 4);
  f.append(header_block);
  f.append(payload);
  PutBe(&f, TestCrc32(f), 4);
  return f;
}

std::string Frame(const std::vector<TestHeader>& headers, std::string_view payload) {
  return FrameRaw(EncodeHeaders(headers), payload);
}

// A prelude with the given lengths and a correct prelude CRC.
std::string Prelude(uint32_t total, uint32_t headers) {
  std::string f;
  PutBe(&f, total, 4);
  PutBe(&f, headers, 4);
  PutBe(&f, TestCrc32(f), 4);
  return f;
}

std::string Base64(std::string_view in) {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(in[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(in[i + 1])} << 8) |
                       uint32_t{static_cast<unsigned char>(in[i + 2])};
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (in.size() - i == 1) {
    const uint32_t v = uint32_t{static_cast<unsigned char>(in[i])} << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    const uint32_t v = (uint32_t{static_cast<unsigned char>(in[i])} << 16) |
                       (uint32_t{static_cast<unsigned char>(in[i + 1])} << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string FromHex(std::string_view hex) {
  std::string out;
  int nibbles = 0;
  unsigned value = 0;
  for (const char c : hex) {
    unsigned d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else {
      continue;
    }
    value = value * 16 + d;
    if (++nibbles == 2) {
      out.push_back(static_cast<char>(value));
      nibbles = 0;
      value = 0;
    }
  }
  return out;
}

// A Bedrock `chunk` frame carrying `event_json` (headers in the order of protocols.md 3.8).
std::string ChunkPayload(std::string_view event_json, std::string_view extra_keys = "") {
  return std::string(R"({"bytes":")") + Base64(event_json) + "\"" + std::string(extra_keys) + "}";
}

std::string Chunk(std::string_view event_json, std::string_view extra_keys = "") {
  return Frame({Str(":event-type", "chunk"), Str(":content-type", "application/json"),
                Str(":message-type", "event")},
               ChunkPayload(event_json, extra_keys));
}

std::string Exception(std::string_view name, std::string_view payload) {
  return Frame({Str(":exception-type", std::string(name)), Str(":content-type", "application/json"),
                Str(":message-type", "exception")},
               payload);
}

// What the decoder delivered, copied out of the callback.
struct Recorded {
  std::vector<TestHeader> headers;
  std::string payload;

  bool operator==(const Recorded& o) const {
    if (payload != o.payload || headers.size() != o.headers.size()) {
      return false;
    }
    for (size_t i = 0; i < headers.size(); ++i) {
      const TestHeader& a = headers[i];
      const TestHeader& b = o.headers[i];
      if (a.name != b.name || a.type != b.type || a.int_value != b.int_value ||
          a.bytes != b.bytes) {
        return false;
      }
    }
    return true;
  }
};

Recorded Record(const EventStreamMessage& m) {
  Recorded r;
  for (const EventStreamHeader& h : m.headers) {
    r.headers.push_back(
        {std::string(h.name), static_cast<uint8_t>(h.type), h.int_value, std::string(h.bytes)});
  }
  r.payload = m.payload;
  return r;
}

struct DecodeResult {
  absl::Status status;
  std::vector<Recorded> messages;
};

// Feeds `pieces` in order, then Finish().
DecodeResult DecodePieces(const std::vector<std::string_view>& pieces) {
  DecodeResult result;
  EventStreamDecoder decoder;
  for (std::string_view piece : pieces) {
    result.status = decoder.Feed(piece, [&](const EventStreamMessage& m) {
      result.messages.push_back(Record(m));
      return absl::OkStatus();
    });
    if (!result.status.ok()) {
      return result;
    }
  }
  result.status = decoder.Finish();
  return result;
}

DecodeResult DecodeWhole(std::string_view bytes) { return DecodePieces({bytes}); }

// ---- framing ----

constexpr std::string_view kOneStringHeaderHex =
    "00 00 00 3d 00 00 00 20 07 fd 83 96"
    "0c 63 6f 6e 74 65 6e 74 2d 74 79 70 65 07 00 10"
    "61 70 70 6c 69 63 61 74 69 6f 6e 2f 6a 73 6f 6e"
    "7b 27 66 6f 6f 27 3a 27 62 61 72 27 7d"
    "8d 9c 08 b1";

constexpr std::string_view kBedrockChunkHex =
    "00 00 00 87 00 00 00 4b 87 ea 2b f3 0b 3a 65 76"
    "65 6e 74 2d 74 79 70 65 07 00 05 63 68 75 6e 6b"
    "0d 3a 63 6f 6e 74 65 6e 74 2d 74 79 70 65 07 00"
    "10 61 70 70 6c 69 63 61 74 69 6f 6e 2f 6a 73 6f"
    "6e 0d 3a 6d 65 73 73 61 67 65 2d 74 79 70 65 07"
    "00 05 65 76 65 6e 74 7b 22 62 79 74 65 73 22 3a"
    "22 65 79 4a 30 65 58 42 6c 49 6a 6f 69 62 57 56"
    "7a 63 32 46 6e 5a 56 39 7a 64 47 39 77 49 6e 30"
    "3d 22 7d ba 48 ab 22";

TEST(EventStreamTest, ReferenceVectorOneStringHeader) {
  const std::string frame = FromHex(kOneStringHeaderHex);
  ASSERT_EQ(frame.size(), 61u);
  EXPECT_EQ(Frame({Str("content-type", "application/json")}, "{'foo':'bar'}"), frame);
  const DecodeResult r = DecodeWhole(frame);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.messages.size(), 1u);
  ASSERT_EQ(r.messages[0].headers.size(), 1u);
  EXPECT_EQ(r.messages[0].headers[0].name, "content-type");
  EXPECT_EQ(r.messages[0].headers[0].type, 7);
  EXPECT_EQ(r.messages[0].headers[0].bytes, "application/json");
  EXPECT_EQ(r.messages[0].payload, "{'foo':'bar'}");
}

TEST(EventStreamTest, ReferenceVectorEmptyMessage) {
  const std::string frame = FromHex("00 00 00 10 00 00 00 00 05 c2 48 eb 7d 98 c8 ff");
  EXPECT_EQ(Frame({}, ""), frame);
  const DecodeResult r = DecodeWhole(frame);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_TRUE(r.messages[0].headers.empty());
  EXPECT_TRUE(r.messages[0].payload.empty());
}

TEST(EventStreamTest, ReferenceVectorBedrockChunk) {
  const std::string frame = FromHex(kBedrockChunkHex);
  ASSERT_EQ(frame.size(), 135u);
  EXPECT_EQ(Chunk(R"({"type":"message_stop"})"), frame);
  EventStreamDecoder decoder;
  int calls = 0;
  const absl::Status st = decoder.Feed(frame, [&](const EventStreamMessage& m) {
    ++calls;
    EXPECT_EQ(m.headers.size(), 3u);
    EXPECT_EQ(m.StringHeader(":event-type"), "chunk");
    EXPECT_EQ(m.StringHeader(":content-type"), "application/json");
    EXPECT_EQ(m.StringHeader(":message-type"), "event");
    EXPECT_EQ(m.StringHeader(":absent"), "");
    EXPECT_EQ(m.Find(":absent"), nullptr);
    EXPECT_EQ(m.payload, R"({"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0="})");
    return absl::OkStatus();
  });
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(decoder.Finish().ok());

  EventStreamToSse sse;
  std::string out;
  ASSERT_TRUE(sse.Decode(frame, true, &out).ok());
  EXPECT_EQ(out, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
  EXPECT_EQ(sse.ContentType(), "text/event-stream");
}

TEST(EventStreamTest, PreludeCrcMismatchIsFatal) {
  std::string frame = FromHex(kOneStringHeaderHex);
  frame[11] = static_cast<char>(frame[11] ^ 0x01);
  const DecodeResult r = DecodeWhole(frame);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status.message(), HasSubstr("prelude CRC mismatch"));
  EXPECT_TRUE(r.messages.empty());

  // A flipped length is caught by the prelude CRC too.
  frame = FromHex(kOneStringHeaderHex);
  frame[3] = static_cast<char>(frame[3] ^ 0x01);
  EXPECT_THAT(DecodeWhole(frame).status.message(), HasSubstr("prelude CRC mismatch"));
}

TEST(EventStreamTest, MessageCrcMismatchIsFatalAndSticky) {
  const std::string good = FromHex(kOneStringHeaderHex);
  for (size_t at : {size_t{12}, size_t{30}, size_t{50}, good.size() - 1}) {
    std::string frame = good;
    frame[at] = static_cast<char>(frame[at] ^ 0x40);
    EventStreamDecoder decoder;
    int calls = 0;
    const auto count = [&](const EventStreamMessage&) {
      ++calls;
      return absl::OkStatus();
    };
    const absl::Status st = decoder.Feed(frame, count);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << at;
    EXPECT_THAT(st.message(), HasSubstr("message CRC mismatch"));
    // Later input is refused with the same error; Finish() reports it as well.
    EXPECT_EQ(decoder.Feed(good, count), st);
    EXPECT_EQ(decoder.Finish(), st);
    EXPECT_EQ(calls, 0);
  }
}

TEST(EventStreamTest, BadLengthsAreFatal) {
  struct Case {
    uint32_t total;
    uint32_t headers;
    std::string_view error;
  };
  const Case cases[] = {
      {0, 0, "below the minimum of 16"},
      {15, 0, "below the minimum of 16"},
      {(16u << 20) + 1, 0, "exceeds the maximum of 16777216"},
      {0xFFFFFFFFu, 0, "exceeds the maximum"},
      {1000, (128u << 10) + 1, "headers length 131073 exceeds the maximum of 131072"},
      {16, 1, "does not fit in a message of 16 bytes"},
      {100, 85, "does not fit in a message of 100 bytes"},
  };
  for (const Case& c : cases) {
    std::string bytes = Prelude(c.total, c.headers);
    bytes.append(64, 'x');
    const DecodeResult r = DecodeWhole(bytes);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << c.total;
    EXPECT_THAT(r.status.message(), HasSubstr(c.error)) << c.total;
  }
  // The limits themselves are accepted (only the prelude is fed: the frame is then truncated).
  for (const auto& [total, headers] : {std::pair<uint32_t, uint32_t>{16u << 20, 128u << 10},
                                       std::pair<uint32_t, uint32_t>{100, 84}}) {
    const DecodeResult r = DecodeWhole(Prelude(total, headers));
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(r.status.message(), HasSubstr("truncated event stream"));
  }
}

TEST(EventStreamTest, EveryHeaderType) {
  const std::string uuid = FromHex("00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff");
  const std::vector<TestHeader> headers = {
      {"true", 0, 0, ""},
      {"false", 1, 0, ""},
      {"byte", 2, -128, ""},
      {"short", 3, -32768, ""},
      {"integer", 4, -2147483648LL, ""},
      {"long", 5, INT64_MIN, ""},
      {"long-max", 5, INT64_MAX, ""},
      {"bytes", 6, 0, std::string("\x00\x01\xff\n", 4)},
      {"string", 7, 0, "h\xc3\xa9llo"},
      {"empty", 7, 0, ""},
      {"timestamp", 8, 1700000000123, ""},
      {"uuid", 9, 0, uuid},
      {"", 7, 0, "empty name"},
      {std::string(255, 'n'), 4, 42, ""},
      {"big-bytes", 6, 0, std::string(65535, 'b')},
  };
  const std::string frame = Frame(headers, "payload");
  const DecodeResult r = DecodeWhole(frame);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.messages.size(), 1u);
  std::vector<TestHeader> want = headers;
  want[0].int_value = 1;  // bool true reads as 1, false as 0
  EXPECT_TRUE(r.messages[0] == (Recorded{want, "payload"}));
  EXPECT_EQ(r.messages[0].headers[2].int_value, -128);
  EXPECT_EQ(r.messages[0].headers[5].int_value, INT64_MIN);
  EXPECT_EQ(r.messages[0].headers[11].bytes, uuid);
}

TEST(EventStreamTest, MalformedHeaderBlocksAreFatal) {
  const std::string good = EncodeHeaders({Str("name", "value")});
  const struct {
    std::string block;
    std::string_view error;
  } cases[] = {
      {good.substr(0, good.size() - 1), "byte array or string value cut short"},
      {good.substr(0, 6), "byte array or string length cut short"},
      {good.substr(0, 5), "name or type cut short"},
      {std::string("\x05na", 3), "name or type cut short"},
      {std::string("\x01x\x0a", 3), "unknown value type 10"},
      {std::string("\x01x\xff", 3), "unknown value type 255"},
      {std::string("\x01x\x02", 3), "byte value cut short"},
      {std::string("\x01x\x03\x00", 4), "short value cut short"},
      {std::string("\x01x\x04\x00\x00\x00", 6), "integer value cut short"},
      {std::string("\x01x\x08\x00\x00\x00", 6), "long or timestamp value cut short"},
      {std::string("\x01x\x09", 3) + std::string(15, 'u'), "uuid value cut short"},
  };
  for (const auto& c : cases) {
    const DecodeResult r = DecodeWhole(FrameRaw(c.block, "{}"));
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << c.error;
    EXPECT_THAT(r.status.message(), HasSubstr(c.error));
  }
}

// A few frames of different shapes, back to back.
std::string SampleStream() {
  std::string s = FromHex(kOneStringHeaderHex);
  s += Frame({}, "");
  s += Chunk(R"({"type":"ping"})");
  s += Frame({{"n", 5, -7, ""}, {"flag", 0, 0, ""}, {"ts", 8, 1700000000000, ""}}, "x");
  s += Frame({Str(":message-type", "event")}, std::string(300, 'p'));
  s += FromHex(kBedrockChunkHex);
  return s;
}

TEST(EventStreamTest, SplitAtEveryOffsetAndByteByByte) {
  const std::string stream = SampleStream();
  const DecodeResult whole = DecodeWhole(stream);
  ASSERT_TRUE(whole.status.ok()) << whole.status;
  ASSERT_EQ(whole.messages.size(), 6u);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    const std::string_view s = stream;
    const DecodeResult r = DecodePieces({s.substr(0, cut), s.substr(cut)});
    ASSERT_TRUE(r.status.ok()) << "cut " << cut << ": " << r.status;
    ASSERT_TRUE(r.messages == whole.messages) << "cut " << cut;
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < stream.size(); ++i) {
    bytes.push_back(std::string_view(stream).substr(i, 1));
  }
  const DecodeResult r = DecodePieces(bytes);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_TRUE(r.messages == whole.messages);
}

TEST(EventStreamTest, ManyFramesInOneBuffer) {
  std::string stream;
  for (int i = 0; i < 2000; ++i) {
    stream += Frame({{"i", 4, i, ""}}, std::string(static_cast<size_t>(i % 97), 'a'));
  }
  const DecodeResult r = DecodeWhole(stream);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.messages.size(), 2000u);
  for (int i = 0; i < 2000; ++i) {
    EXPECT_EQ(r.messages[static_cast<size_t>(i)].headers[0].int_value, i);
    EXPECT_EQ(r.messages[static_cast<size_t>(i)].payload.size(), static_cast<size_t>(i % 97));
  }
}

TEST(EventStreamTest, WholeFramesAreNotBufferedOnlyTheTail) {
  const std::string frame = FromHex(kOneStringHeaderHex);
  EventStreamDecoder decoder;
  int calls = 0;
  const auto count = [&](const EventStreamMessage&) {
    ++calls;
    return absl::OkStatus();
  };
  const std::string two = frame + frame.substr(0, 20);
  ASSERT_TRUE(decoder.Feed(two, count).ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(decoder.BufferedBytes(), 20u);
  ASSERT_TRUE(decoder.Feed(std::string_view(frame).substr(20), count).ok());
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(decoder.BufferedBytes(), 0u);
  EXPECT_TRUE(decoder.Finish().ok());
}

TEST(EventStreamTest, LargeFrame) {
  // A PayloadPart of 1,000,000 decoded bytes is ~1.34 MB of base64: well within the limit.
  std::string payload(1400 * 1000, 'z');
  for (size_t i = 0; i < payload.size(); i += 997) {
    payload[i] = static_cast<char>(i & 0xFF);
  }
  const std::string frame = Frame({Str(":message-type", "event")}, payload);
  {
    const DecodeResult r = DecodeWhole(frame);
    ASSERT_TRUE(r.status.ok()) << r.status;
    ASSERT_EQ(r.messages.size(), 1u);
    EXPECT_TRUE(r.messages[0].payload == payload);
  }
  EventStreamDecoder decoder;
  size_t delivered = 0;
  const auto check = [&](const EventStreamMessage& m) {
    delivered += m.payload.size();
    EXPECT_TRUE(m.payload == payload);
    return absl::OkStatus();
  };
  const std::string_view f = frame;
  ASSERT_TRUE(decoder.Feed(f.substr(0, 5), check).ok());
  ASSERT_TRUE(decoder.Feed(f.substr(5, 700000), check).ok());
  EXPECT_EQ(decoder.BufferedBytes(), 700005u);
  ASSERT_TRUE(decoder.Feed(f.substr(700005), check).ok());
  EXPECT_EQ(delivered, payload.size());
  EXPECT_EQ(decoder.BufferedBytes(), 0u);
  // The tail buffer of an unusually large frame is not kept for the rest of the stream.
  EXPECT_LE(decoder.BufferCapacityForTest(), size_t{64} << 10);
  EXPECT_TRUE(decoder.Finish().ok());
}

TEST(EventStreamTest, TruncatedEnd) {
  const std::string frame = FromHex(kOneStringHeaderHex);
  for (size_t len : {size_t{1}, size_t{11}, size_t{12}, size_t{60}}) {
    const DecodeResult r = DecodeWhole(frame + frame.substr(0, len));
    EXPECT_EQ(r.messages.size(), 1u);
    EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss) << len;
    EXPECT_THAT(r.status.message(), HasSubstr("truncated event stream"));
  }
  EXPECT_TRUE(DecodeWhole("").status.ok());
}

TEST(EventStreamTest, HandlerErrorStopsAndSticks) {
  const std::string stream = SampleStream();
  EventStreamDecoder decoder;
  int calls = 0;
  const absl::Status st = decoder.Feed(stream, [&](const EventStreamMessage&) {
    return ++calls == 2 ? absl::InvalidArgumentError("no thanks") : absl::OkStatus();
  });
  EXPECT_EQ(st, absl::InvalidArgumentError("no thanks"));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(decoder.Finish(), st);
}

TEST(EventStreamTest, StopIgnoresTheRest) {
  const std::string stream = SampleStream() + "garbage that is not a frame at all";
  EventStreamDecoder decoder;
  int calls = 0;
  const auto stop_at_two = [&](const EventStreamMessage&) {
    if (++calls == 2) {
      decoder.Stop();
    }
    return absl::OkStatus();
  };
  EXPECT_TRUE(decoder.Feed(stream, stop_at_two).ok());
  EXPECT_TRUE(decoder.Feed(stream, stop_at_two).ok());
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(decoder.stopped());
  EXPECT_TRUE(decoder.Finish().ok());
}

// ---- Bedrock stream -> Anthropic SSE ----

// A realistic Bedrock stream: pretty-printed message_start (LF and CRLF), a thinking block with
// signature_delta, a tool_use block with input_json_delta, a keep-alive, PayloadPart padding
// keys, message_delta and message_stop with invocation metrics.
const std::vector<std::string>& RealisticEvents() {
  static const auto* events = new std::vector<std::string>{
      "{\n  \"type\": \"message_start\",\r\n  \"message\": "
      "{\"id\":\"msg_bdrk_01XFDUDYJgAACzvnptvVoYEL\","
      "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
      "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
      "\"usage\":{\"input_tokens\":2095,\"output_tokens\":1}}\n}\n",
      R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})",
      R"({"type":"ping"})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think.\n\nevent: message_delta\r\ndata: {\"usage\":{}}"}})",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}})",
      R"({"type":"content_block_stop","index":0})",
      R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_bdrk_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}})",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}})",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"Par"}})",
      R"({"p":"keep-alive without a type"})",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is, Fran\u00e7e\"}"}})",
      R"({"type":"content_block_stop","index":1})",
      R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}})",
      R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":2095,"outputTokenCount":89,"invocationLatency":2563,"firstByteLatency":1137,"cacheReadInputTokenCount":512,"cacheWriteInputTokenCount":128}})",
  };
  return *events;
}

constexpr std::string_view kRealisticSse =
    "event: message_start\n"
    "data: {   \"type\": \"message_start\",    \"message\": "
    "{\"id\":\"msg_bdrk_01XFDUDYJgAACzvnptvVoYEL\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
    "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":2095,\"output_tokens\":1}} } \n\n"
    "event: content_block_start\n"
    R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}})"
    "\n\n"
    "event: ping\n"
    R"(data: {"type":"ping"})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think.\n\nevent: message_delta\r\ndata: {\"usage\":{}}"}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}})"
    "\n\n"
    "event: content_block_stop\n"
    R"(data: {"type":"content_block_stop","index":0})"
    "\n\n"
    "event: content_block_start\n"
    R"(data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_bdrk_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\": \"Par"}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is, Fran\u00e7e\"}"}})"
    "\n\n"
    "event: content_block_stop\n"
    R"(data: {"type":"content_block_stop","index":1})"
    "\n\n"
    "event: message_delta\n"
    R"(data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}})"
    "\n\n"
    "event: message_stop\n"
    R"(data: {"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":2095,"outputTokenCount":89,"invocationLatency":2563,"firstByteLatency":1137,"cacheReadInputTokenCount":512,"cacheWriteInputTokenCount":128}})"
    "\n\n";

std::string RealisticStream() {
  std::string s;
  size_t i = 0;
  for (const std::string& e : RealisticEvents()) {
    // Bedrock pads some PayloadParts with a "p" key; put it after and before "bytes".
    if (i % 3 == 1) {
      s += Chunk(e, R"(,"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJ")");
    } else if (i % 3 == 2) {
      s += Frame(
          {Str(":event-type", "chunk"), Str(":content-type", "application/json"),
           Str(":message-type", "event")},
          R"( { "p" : "abc" , "x":{"y":[1,"]}",{}],"z":null}, "bytes" : ")" + Base64(e) + "\" }");
    } else {
      s += Chunk(e);
    }
    ++i;
  }
  return s;
}

struct SseResult {
  absl::Status status;
  std::string out;
};

SseResult ToSse(const std::vector<std::string_view>& pieces) {
  SseResult r;
  EventStreamToSse decoder;
  for (size_t i = 0; i < pieces.size(); ++i) {
    r.status = decoder.Decode(pieces[i], i + 1 == pieces.size(), &r.out);
    if (!r.status.ok()) {
      break;
    }
  }
  return r;
}

TEST(BedrockDecoderTest, RealisticStreamExactSse) {
  const std::string stream = RealisticStream();
  const SseResult r = ToSse({stream});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.out, kRealisticSse);

  // The relay's SSE observer reads usage off the transcoded stream: input and output from the
  // events, the cache fields (absent there) from message_stop's invocation metrics.
  http::SseObserver observer;
  observer.Feed(r.out);
  EXPECT_EQ(observer.events(), 13u);
  EXPECT_TRUE(observer.AtEventBoundary());
  EXPECT_TRUE(observer.saw_message_stop());
  EXPECT_EQ(observer.usage().input_tokens, 2095);
  EXPECT_EQ(observer.usage().output_tokens, 89);
  EXPECT_EQ(observer.usage().cache_creation_input_tokens, 128);
  EXPECT_EQ(observer.usage().cache_read_input_tokens, 512);
}

TEST(BedrockDecoderTest, SseIsEmittedPerCompleteFrameWhateverTheSplit) {
  const std::string stream = RealisticStream();
  const std::string_view s = stream;
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    const SseResult r = ToSse({s.substr(0, cut), s.substr(cut)});
    ASSERT_TRUE(r.status.ok()) << "cut " << cut << ": " << r.status;
    ASSERT_EQ(r.out, kRealisticSse) << "cut " << cut;
  }
  // Byte by byte: each event comes out the moment its frame's last byte arrives.
  EventStreamToSse decoder;
  std::string out;
  size_t events = 0;
  for (size_t i = 0; i < stream.size(); ++i) {
    ASSERT_TRUE(decoder.Decode(s.substr(i, 1), i + 1 == stream.size(), &out).ok());
    const size_t now = static_cast<size_t>(std::count(out.begin(), out.end(), '\n')) / 3;
    EXPECT_GE(now, events);
    events = now;
  }
  EXPECT_EQ(out, kRealisticSse);
}

TEST(BedrockDecoderTest, FirstFrameAloneGivesItsEventAtOnce) {
  EventStreamToSse decoder;
  std::string out;
  const std::string first = Chunk(R"({"type":"ping"})");
  ASSERT_TRUE(decoder.Decode(first + first.substr(0, 7), false, &out).ok());
  EXPECT_EQ(out, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
}

TEST(BedrockDecoderTest, ExceptionMidStreamEndsTheStream) {
  std::string stream = Chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":3}}})");
  stream += Exception("throttlingException",
                      R"({"message":"Too many \"requests\",\n please wait. \u00e9"})");
  stream += Chunk(R"({"type":"message_stop"})");  // never sent: the stream is over
  stream += "trailing bytes that do not frame";
  const SseResult r = ToSse({stream});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(
      r.out,
      "event: message_start\n"
      R"(data: {"type":"message_start","message":{"usage":{"input_tokens":3}}})"
      "\n\n"
      "event: error\n"
      R"(data: {"type":"error","error":{"type":"rate_limit_error","message":"Too many \"requests\",\n please wait. )"
      "\xc3\xa9\"}}\n\n");
  http::SseObserver observer;
  observer.Feed(r.out);
  EXPECT_TRUE(observer.saw_error());
  EXPECT_EQ(observer.error_type(), "rate_limit_error");
}

TEST(BedrockDecoderTest, ExceptionTypes) {
  const struct {
    std::string_view name;
    std::string_view type;
  } cases[] = {
      {"throttlingException", "rate_limit_error"},
      {"serviceUnavailableException", "overloaded_error"},
      {"modelTimeoutException", "timeout_error"},
      {"validationException", "invalid_request_error"},
      {"internalServerException", "api_error"},
      {"modelStreamErrorException", "api_error"},
      {"brandNewException", "api_error"},
      {"", "api_error"},
  };
  for (const auto& c : cases) {
    const SseResult r = ToSse({Exception(c.name, R"({"message":"m"})")});
    ASSERT_TRUE(r.status.ok()) << c.name << ": " << r.status;
    EXPECT_EQ(r.out, std::string("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"") +
                         std::string(c.type) + "\",\"message\":\"m\"}}\n\n")
        << c.name;
  }
  // Without a message in the payload, the exception's name stands in.
  const SseResult r = ToSse({Exception("modelStreamErrorException",
                                       R"({"originalStatusCode":500,"originalMessage":"boom"})")});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.out,
            "event: error\ndata: "
            R"({"type":"error","error":{"type":"api_error","message":"modelStreamErrorException"}})"
            "\n\n");
  const SseResult r2 = ToSse({Exception("validationException", "not json")});
  ASSERT_TRUE(r2.status.ok());
  EXPECT_THAT(r2.out, HasSubstr(R"("message":"validationException")"));
}

TEST(BedrockDecoderTest, ErrorMessageFrame) {
  const std::string frame =
      Frame({Str(":error-code", "InternalFailure"), Str(":error-message", "An internal \"error\""),
             Str(":message-type", "error")},
            "");
  const SseResult r = ToSse({frame + Chunk(R"({"type":"ping"})")});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.out,
            "event: error\ndata: "
            R"({"type":"error","error":{"type":"api_error","message":"An internal \"error\""}})"
            "\n\n");
  const SseResult code_only =
      ToSse({Frame({Str(":error-code", "InternalFailure"), Str(":message-type", "error")}, "")});
  EXPECT_THAT(code_only.out, HasSubstr(R"("message":"InternalFailure")"));
}

TEST(BedrockDecoderTest, KeepAlivesAndOtherEventsAreDropped) {
  std::string stream;
  stream += Chunk("{}");
  stream += Chunk(R"({"p":"abcdef"})");
  stream += Chunk(R"({"type":7})");
  stream += Chunk(R"(["type"])");
  stream += Chunk(R"("message_stop")");
  stream += Frame({Str(":event-type", "initial-response"), Str(":message-type", "event")}, "{}");
  stream += Frame({Str(":event-type", "chunk"), Str(":message-type", "mystery")}, "??");
  stream += Frame({Str(":event-type", "chunk")}, "no message type");
  stream += Frame({{":message-type", 6, 0, "event"}, Str(":event-type", "chunk")}, "bytes-typed");
  const SseResult r = ToSse({stream});
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.out, "");
}

TEST(BedrockDecoderTest, BadChunksAreErrors) {
  const struct {
    std::string payload;
    std::string_view error;
  } cases[] = {
      {R"({"bytes":"eyJ0eXBlIjoi*"})", "not valid base64"},
      {R"({"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0=="})", "not valid base64"},
      {R"({"bytes":"e"})", "not valid base64"},
      {R"({"bytes":"eyJ0=eXB"})", "not valid base64"},
      {R"({"bytes":"eyJ0\n"})", "not valid base64"},
      {R"({"bytes":"ey\u004a0"})", "not valid base64"},
      {ChunkPayload(R"({"type":"message_stop")"), "not valid JSON"},
      {ChunkPayload(R"({"type":"message_stop"} x)"), "not valid JSON"},
      {ChunkPayload("{\"type\":\"a\nb\"}"), "not valid JSON"},
      {ChunkPayload(""), "not valid JSON"},
      {ChunkPayload(R"({"type":"a\nb"})"), "line break"},
      {R"({"bytes":12})", "\"bytes\" is not a string"},
      {R"({"p":"x"})", "no \"bytes\""},
      {R"({})", "no \"bytes\""},
      {R"([])", "not a JSON object"},
      {"", "not a JSON object"},
      {R"({"bytes":"abc)", "\"bytes\" is not a string"},
      {R"({"p":"x)", "malformed payload JSON"},
      {R"({"p" "x"})", "malformed payload JSON"},
      {R"({"p":{"x":"})", "malformed payload JSON"},
  };
  for (const auto& c : cases) {
    const std::string frame =
        Frame({Str(":event-type", "chunk"), Str(":message-type", "event")}, c.payload);
    const SseResult r = ToSse({frame});
    EXPECT_EQ(r.status.code(), absl::StatusCode::kInvalidArgument) << c.payload;
    EXPECT_THAT(r.status.message(), HasSubstr(c.error)) << c.payload;
  }
}

TEST(BedrockDecoderTest, Base64Forms) {
  // Unpadded base64 and the JSON escape "\/" are accepted.
  const std::string event = R"({"type":"content_block_delta","delta":{"text":"??>"}})";
  std::string b64 = Base64(event);
  ASSERT_NE(b64.find('/'), std::string::npos);
  std::string escaped;
  for (const char c : b64) {
    if (c == '/') {
      escaped += "\\/";
    } else {
      escaped += c;
    }
  }
  while (!b64.empty() && b64.back() == '=') {
    b64.pop_back();
  }
  const std::string want = "event: content_block_delta\ndata: " + event + "\n\n";
  for (const std::string& text : {b64, escaped}) {
    const SseResult r = ToSse({Frame({Str(":event-type", "chunk"), Str(":message-type", "event")},
                                     R"({"bytes":")" + text + "\"}")});
    ASSERT_TRUE(r.status.ok()) << text << ": " << r.status;
    EXPECT_EQ(r.out, want);
  }
}

TEST(BedrockDecoderTest, LargeChunk) {
  // A PayloadPart at the 1,000,000-byte limit: ~1.33 MB of base64 in one frame.
  const std::string head =
      "{\"type\":\"content_block_delta\",\"index\":0,\n\"delta\":{\"type\":\"text_delta\",\"text\":"
      "\"";
  std::string text(999990 - head.size() - 3, 'a');
  for (size_t i = 0; i < text.size(); i += 101) {
    text[i] = ' ';
  }
  const std::string json = head + text + "\"}}";
  ASSERT_EQ(json.size(), 999990u);
  std::string want = "event: content_block_delta\ndata: " + json + "\n\n";
  want[want.find(",\n\"delta\"") + 1] = ' ';
  const std::string frame = Chunk(json);
  EXPECT_GT(frame.size(), 1330000u);
  EventStreamToSse decoder;
  for (int round = 0; round < 2; ++round) {  // the second one reuses the decoder's buffers
    const std::string_view f = frame;
    std::string out;
    ASSERT_TRUE(decoder.Decode(f.substr(0, 400000), false, &out).ok());
    EXPECT_EQ(out, "");
    ASSERT_TRUE(decoder.Decode(f.substr(400000), round == 1, &out).ok());
    EXPECT_TRUE(out == want);
  }
}

TEST(BedrockDecoderTest, TruncatedStreamIsAnError) {
  const std::string frame = Chunk(R"({"type":"ping"})");
  const SseResult r = ToSse({frame + frame.substr(0, 30)});
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status.message(), HasSubstr("truncated event stream"));
  EXPECT_EQ(r.out, "event: ping\ndata: {\"type\":\"ping\"}\n\n");
  // The end may also come in a call of its own, with no bytes.
  EventStreamToSse decoder;
  std::string out;
  ASSERT_TRUE(decoder.Decode(frame.substr(0, 5), false, &out).ok());
  EXPECT_THAT(decoder.Decode("", true, &out).message(), HasSubstr("truncated event stream"));
}

TEST(BedrockDecoderTest, CorruptFrameIsAnError) {
  std::string frame = Chunk(R"({"type":"ping"})");
  frame[frame.size() - 10] ^= 1;
  const SseResult r = ToSse({frame});
  EXPECT_EQ(r.status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status.message(), HasSubstr("message CRC mismatch"));
}

// ---- non-streamed answers ----

TEST(BedrockDecoderTest, ExceptionNameToErrorType) {
  EXPECT_EQ(AnthropicErrorTypeForException("ThrottlingException"), "rate_limit_error");
  EXPECT_EQ(AnthropicErrorTypeForException("throttlingException"), "rate_limit_error");
  EXPECT_EQ(AnthropicErrorTypeForException("NoSuchException"), "");
  EXPECT_EQ(AwsErrorName("ValidationException:http://internal.amazon.com/coral/"),
            "ValidationException");
  EXPECT_EQ(AwsErrorName("com.amazon.coral.service#AccessDeniedException"),
            "AccessDeniedException");
  EXPECT_EQ(AwsErrorName("aws.protocoltests#ThrottlingException:http://x,other"),
            "ThrottlingException");
  EXPECT_EQ(AwsErrorName(""), "");
}

TEST(BedrockDecoderTest, JsonErrorPerException) {
  const struct {
    int status;
    std::string_view header;
    std::string_view body;
    std::string_view want;
  } cases[] = {
      {400, "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
       R"({"message":"Malformed input request: #: extraneous key [foo] is not permitted"})",
       R"({"type":"error","error":{"type":"invalid_request_error","message":"Malformed input request: #: extraneous key [foo] is not permitted"}})"},
      {400, "ServiceQuotaExceededException", R"({"message":"quota"})",
       R"({"type":"error","error":{"type":"invalid_request_error","message":"quota"}})"},
      {403, "AccessDeniedException", R"({"Message":"You don't have access to the model."})",
       R"({"type":"error","error":{"type":"permission_error","message":"You don't have access to the model."}})"},
      {403, "UnrecognizedClientException",
       R"({"message":"The security token included in the request is invalid."})",
       R"({"type":"error","error":{"type":"authentication_error","message":"The security token included in the request is invalid."}})"},
      {403, "InvalidSignatureException", R"({"message":"sig"})",
       R"({"type":"error","error":{"type":"authentication_error","message":"sig"}})"},
      {403, "ExpiredTokenException", R"({"message":"expired"})",
       R"({"type":"error","error":{"type":"authentication_error","message":"expired"}})"},
      {404, "ResourceNotFoundException", R"({"message":"Model not found"})",
       R"({"type":"error","error":{"type":"not_found_error","message":"Model not found"}})"},
      {408, "ModelTimeoutException", R"({"message":"slow"})",
       R"({"type":"error","error":{"type":"timeout_error","message":"slow"}})"},
      {424, "ModelErrorException", R"({"message":"model failed","originalStatusCode":500})",
       R"({"type":"error","error":{"type":"api_error","message":"model failed"}})"},
      {429, "ThrottlingException", R"({"message":"Too many requests, please wait."})",
       R"({"type":"error","error":{"type":"rate_limit_error","message":"Too many requests, please wait."}})"},
      {429, "ModelNotReadyException", R"({"message":"not ready"})",
       R"({"type":"error","error":{"type":"overloaded_error","message":"not ready"}})"},
      {500, "InternalServerException", R"({"message":"oops"})",
       R"({"type":"error","error":{"type":"api_error","message":"oops"}})"},
      {503, "ServiceUnavailableException", R"({"message":"unavailable"})",
       R"({"type":"error","error":{"type":"overloaded_error","message":"unavailable"}})"},
      // The name from the body when the header is missing.
      {400, "", R"({"__type":"com.amazon.coral.validate#ValidationException","message":"x"})",
       R"({"type":"error","error":{"type":"invalid_request_error","message":"x"}})"},
      {429, "", R"({"message":"y","code":"ThrottlingException"})",
       R"({"type":"error","error":{"type":"rate_limit_error","message":"y"}})"},
      // An unknown name: the type follows the status.
      {413, "", R"({"message":"too big"})",
       R"({"type":"error","error":{"type":"request_too_large","message":"too big"}})"},
      {401, "SomethingNew", R"({"message":"who?"})",
       R"({"type":"error","error":{"type":"authentication_error","message":"who?"}})"},
      // No message: a generic one.
      {429, "ThrottlingException", R"({})",
       R"j({"type":"error","error":{"type":"rate_limit_error","message":"Bedrock answered HTTP 429 (ThrottlingException)"}})j"},
      // Unparsable bodies.
      {502, "", "<html>502 Bad Gateway</html>",
       R"({"type":"error","error":{"type":"api_error","message":"Bedrock answered HTTP 502"}})"},
      {403, "", "",
       R"({"type":"error","error":{"type":"api_error","message":"Bedrock answered HTTP 403"}})"},
      {429, "ThrottlingException", "Rate exceeded",
       R"j({"type":"error","error":{"type":"rate_limit_error","message":"Bedrock answered HTTP 429 (ThrottlingException)"}})j"},
      // Messages are escaped.
      {400, "ValidationException", R"({"message":"a \"quoted\"\nline\u0001 \u00e9"})",
       "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"a "
       "\\\"quoted\\\"\\nline\\u0001 \xc3\xa9\"}}"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(TranslateBedrockError(c.status, c.header, c.body), c.want) << c.body;
    boost::beast::http::fields headers;
    if (!c.header.empty()) {
      headers.set("X-Amzn-ErrorType", std::string(c.header));
    }
    headers.set("content-type", "application/json");
    ResponseDecoderPtr decoder = NewBedrockDecoder(c.status, headers, false);
    ASSERT_NE(decoder, nullptr);
    EXPECT_EQ(decoder->ContentType(), "application/json");
    std::string out;
    const std::string_view body = c.body;
    ASSERT_TRUE(decoder->Decode(body.substr(0, body.size() / 2), false, &out).ok());
    EXPECT_EQ(out, "");
    ASSERT_TRUE(decoder->Decode(body.substr(body.size() / 2), true, &out).ok());
    EXPECT_EQ(out, c.want);
  }
}

TEST(BedrockDecoderTest, JsonAnswerSizeIsCapped) {
  BedrockJsonAnswer answer(BedrockJsonAnswer::Kind::kError, 500, "");
  std::string out;
  const std::string piece(BedrockJsonAnswer::kMaxBodyBytes / 2, ' ');
  ASSERT_TRUE(answer.Decode(piece, false, &out).ok());
  ASSERT_TRUE(answer.Decode(piece, false, &out).ok());
  const absl::Status st = answer.Decode("x", true, &out);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(out, "");
}

TEST(BedrockDecoderTest, CountTokens) {
  EXPECT_EQ(*TranslateCountTokens(R"({"inputTokens":1234})"), R"({"input_tokens":1234})");
  EXPECT_EQ(*TranslateCountTokens(R"( {"other":[1,2],"inputTokens": 0 } )"),
            R"({"input_tokens":0})");
  for (std::string_view bad : {"", "{}", R"({"inputTokens":"12"})", R"({"inputTokens":1.5})", "[1]",
                               R"({"input_tokens":12})"}) {
    EXPECT_FALSE(TranslateCountTokens(bad).ok()) << bad;
  }
  boost::beast::http::fields headers;
  headers.set("content-type", "application/json");
  ResponseDecoderPtr decoder = NewBedrockDecoder(200, headers, true);
  ASSERT_NE(decoder, nullptr);
  std::string out;
  ASSERT_TRUE(decoder->Decode(R"({"inputTo)", false, &out).ok());
  ASSERT_TRUE(decoder->Decode(R"(kens":57})", true, &out).ok());
  EXPECT_EQ(out, R"({"input_tokens":57})");
  ResponseDecoderPtr bad = NewBedrockDecoder(200, headers, true);
  EXPECT_FALSE(bad->Decode("{}", true, &out).ok());
}

TEST(BedrockDecoderTest, FactoryPicksByStatusAndContentType) {
  boost::beast::http::fields stream_headers;
  stream_headers.set("Content-Type", "Application/vnd.amazon.eventstream");
  boost::beast::http::fields json_headers;
  json_headers.set("content-type", "application/json");
  boost::beast::http::fields none;

  ResponseDecoderPtr d = NewBedrockDecoder(200, stream_headers, false);
  ASSERT_NE(d, nullptr);
  EXPECT_NE(dynamic_cast<EventStreamToSse*>(d.get()), nullptr);
  EXPECT_EQ(d->ContentType(), "text/event-stream");

  EXPECT_EQ(NewBedrockDecoder(200, json_headers, false), nullptr);  // InvokeModel: passthrough
  EXPECT_EQ(NewBedrockDecoder(200, none, false), nullptr);
  EXPECT_EQ(NewBedrockDecoder(304, json_headers, true), nullptr);
  d = NewBedrockDecoder(200, json_headers, true);
  ASSERT_NE(d, nullptr);
  EXPECT_NE(dynamic_cast<BedrockJsonAnswer*>(d.get()), nullptr);
  for (int status : {400, 403, 429, 500, 503}) {
    d = NewBedrockDecoder(status, stream_headers, false);
    ASSERT_NE(d, nullptr);
    EXPECT_NE(dynamic_cast<BedrockJsonAnswer*>(d.get()), nullptr);
    EXPECT_EQ(d->ContentType(), "application/json");
  }
}

}  // namespace
}  // namespace ccrelay::providers::bedrock
