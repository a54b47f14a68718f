#include "dataplane/http/sse_observer.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace ccrelay::http {
namespace {

// A realistic Claude stream: thinking block with signature_delta, text block, pings, a delta whose
// text looks like SSE fields, and usage in message_start / message_delta.
constexpr std::string_view kStream =
    "event: message_start\n"
    R"(data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":)"
    R"("message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],)"
    R"("stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":2095,)"
    R"("cache_creation_input_tokens":1200,"cache_read_input_tokens":3400,"cache_creation":)"
    R"({"ephemeral_5m_input_tokens":1200,"ephemeral_1h_input_tokens":0},"output_tokens":3,)"
    R"("service_tier":"standard"}}})"
    "\n\n"
    "event: content_block_start\n"
    R"(data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking",)"
    R"("thinking":"","signature":""}})"
    "\n\n"
    "event: ping\n"
    R"(data: {"type": "ping"})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta",)"
    R"("thinking":"Let me think.\n\nevent: message_delta\ndata: {\"usage\":{\"output_tokens\":1}}"}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta",)"
    R"("signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}})"
    "\n\n"
    "event: content_block_stop\n"
    R"(data: {"type":"content_block_stop","index":0})"
    "\n\n"
    "event: content_block_start\n"
    R"(data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello"}})"
    "\n\n"
    "event: ping\n"
    R"(data: {"type": "ping"})"
    "\n\n"
    "event: content_block_delta\n"
    R"(data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"!"}})"
    "\n\n"
    "event: content_block_stop\n"
    R"(data: {"type":"content_block_stop","index":1})"
    "\n\n"
    "event: message_delta\n"
    R"(data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},)"
    R"("usage":{"output_tokens":503}})"
    "\n\n"
    "event: message_stop\n"
    R"(data: {"type":"message_stop"})"
    "\n\n";
constexpr size_t kStreamEvents = 13;

std::string Replace(std::string_view in, std::string_view from, std::string_view to) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t next = in.find(from, pos);
    if (next == std::string_view::npos) {
      out.append(in.substr(pos));
      return out;
    }
    out.append(in.substr(pos, next - pos));
    out.append(to);
    pos = next + from.size();
  }
}

void ExpectStreamResult(const SseObserver& o) {
  EXPECT_EQ(o.events(), kStreamEvents);
  EXPECT_TRUE(o.saw_message_start());
  EXPECT_TRUE(o.saw_message_stop());
  EXPECT_FALSE(o.saw_error());
  EXPECT_EQ(o.error_type(), "");
  EXPECT_EQ(o.usage().input_tokens, 2095);
  EXPECT_EQ(o.usage().output_tokens, 503);
  EXPECT_EQ(o.usage().cache_creation_input_tokens, 1200);
  EXPECT_EQ(o.usage().cache_read_input_tokens, 3400);
  EXPECT_TRUE(o.AtEventBoundary());
}

// Feeds `stream` whole, byte by byte and split in two at every offset.
void ExpectSameResultWhateverTheSplit(std::string_view stream) {
  {
    SseObserver o;
    o.Feed(stream);
    ExpectStreamResult(o);
  }
  {
    SseObserver o;
    for (char c : stream) {
      o.Feed(std::string_view(&c, 1));
    }
    ExpectStreamResult(o);
  }
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseObserver o;
    o.Feed(stream.substr(0, cut));
    o.Feed(stream.substr(cut));
    ExpectStreamResult(o);
    if (testing::Test::HasFailure()) {
      ADD_FAILURE() << "split at " << cut;
      return;
    }
  }
}

TEST(SseObserverTest, RealisticStreamWholeByteByByteAndEverySplit) {
  ExpectSameResultWhateverTheSplit(kStream);
}

TEST(SseObserverTest, CrlfLineEnds) {
  ExpectSameResultWhateverTheSplit(Replace(kStream, "\n", "\r\n"));
}

TEST(SseObserverTest, CrLineEnds) {
  ExpectSameResultWhateverTheSplit(Replace(kStream, "\n", "\r"));
}

TEST(SseObserverTest, ThreePieceSplits) {
  const std::string stream = Replace(kStream, "\n", "\r\n");
  for (size_t a = 0; a < stream.size(); a += 7) {
    for (size_t b = a; b <= stream.size(); b += 13) {
      SseObserver o;
      o.Feed(std::string_view(stream).substr(0, a));
      o.Feed(std::string_view(stream).substr(a, b - a));
      o.Feed(std::string_view(stream).substr(b));
      ASSERT_EQ(o.events(), kStreamEvents) << a << " " << b;
      ASSERT_EQ(o.usage().output_tokens, 503) << a << " " << b;
      ASSERT_EQ(o.usage().input_tokens, 2095) << a << " " << b;
    }
  }
}

TEST(SseObserverTest, BoundaryTrackingByteByByte) {
  SseObserver o;
  EXPECT_TRUE(o.AtEventBoundary());
  std::string fed;
  for (char c : kStream) {
    o.Feed(std::string_view(&c, 1));
    fed.push_back(c);
    const bool after_event = fed.size() >= 2 && fed.compare(fed.size() - 2, 2, "\n\n") == 0;
    ASSERT_EQ(o.AtEventBoundary(), after_event) << "after " << fed.size() << " bytes";
  }
}

TEST(SseObserverTest, BoundaryTrackingCrlf) {
  const std::string stream = Replace(kStream, "\n", "\r\n");
  SseObserver o;
  std::string fed;
  for (char c : stream) {
    o.Feed(std::string_view(&c, 1));
    fed.push_back(c);
    // The blank line is complete at its \r; the \n that follows changes nothing.
    const bool after_event = (fed.size() >= 3 && fed.compare(fed.size() - 3, 3, "\r\n\r") == 0) ||
                             (fed.size() >= 4 && fed.compare(fed.size() - 4, 4, "\r\n\r\n") == 0);
    ASSERT_EQ(o.AtEventBoundary(), after_event) << "after " << fed.size() << " bytes";
  }
}

TEST(SseObserverTest, BoundaryWithComments) {
  SseObserver o;
  o.Feed(": keep-alive");
  EXPECT_FALSE(o.AtEventBoundary());
  o.Feed("\n");
  EXPECT_FALSE(o.AtEventBoundary());  // comment block not closed yet
  o.Feed("\n");
  EXPECT_TRUE(o.AtEventBoundary());
  EXPECT_EQ(o.events(), 0u);  // comment-only blocks are not events
  o.Feed("event: ping\ndata: {}\n");
  EXPECT_FALSE(o.AtEventBoundary());
  o.Feed("\n\n\n");  // extra blank lines stay at a boundary
  EXPECT_TRUE(o.AtEventBoundary());
  EXPECT_EQ(o.events(), 1u);
  o.Feed("e");
  EXPECT_FALSE(o.AtEventBoundary());
}

TEST(SseObserverTest, CommentsAndPingsAreIgnoredForUsage) {
  SseObserver o;
  o.Feed(": hello\n\n");
  o.Feed("event: message_start\n: a comment inside an event\ndata: ");
  o.Feed(R"({"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1}}})");
  o.Feed("\n\n:ping\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n");
  EXPECT_EQ(o.events(), 2u);
  EXPECT_EQ(o.usage().input_tokens, 10);
  EXPECT_EQ(o.usage().output_tokens, 1);
  EXPECT_EQ(o.usage().cache_read_input_tokens, -1);
  EXPECT_EQ(o.usage().cache_creation_input_tokens, -1);
  EXPECT_FALSE(o.saw_message_stop());
}

TEST(SseObserverTest, MessageDeltaOverwritesPresentNonNullFields) {
  SseObserver o;
  o.Feed(
      "event: message_start\n"
      R"(data: {"type":"message_start","message":{"content":[{"type":"text","text":"x"}],)"
      R"("usage":{"input_tokens":100,"cache_creation_input_tokens":20,)"
      R"("cache_read_input_tokens":30,"output_tokens":1}}})"
      "\n\n"
      "event: message_delta\n"
      R"(data: {"type":"message_delta","usage":{"output_tokens":50,"input_tokens":null}})"
      "\n\n");
  EXPECT_EQ(o.usage().input_tokens, 100);
  EXPECT_EQ(o.usage().output_tokens, 50);
  o.Feed(
      "event: message_delta\n"
      R"(data: {"type":"message_delta","usage":{"input_tokens":120,"cache_read_input_tokens":null,)"
      R"("cache_creation_input_tokens":25,"output_tokens":70,"server_tool_use":null}})"
      "\n\n");
  // Cumulative: the last value wins, nothing is summed.
  EXPECT_EQ(o.usage().input_tokens, 120);
  EXPECT_EQ(o.usage().output_tokens, 70);
  EXPECT_EQ(o.usage().cache_creation_input_tokens, 25);
  EXPECT_EQ(o.usage().cache_read_input_tokens, 30);
}

TEST(SseObserverTest, DispatchesOnEventNameNotOnJsonType) {
  SseObserver o;
  // A content delta whose JSON claims to be a message_delta is not usage.
  o.Feed(
      "event: content_block_delta\n"
      R"(data: {"type":"message_delta","usage":{"output_tokens":999}})"
      "\n\n");
  EXPECT_EQ(o.usage().output_tokens, -1);
  EXPECT_EQ(o.events(), 1u);
}

TEST(SseObserverTest, DataLinesAreJoinedWithNewline) {
  SseObserver o;
  o.Feed(
      "event: message_delta\ndata: {\"type\":\"message_delta\",\ndata:\"usage\":\n"
      "data:  {\"output_tokens\":7}}\n\n");
  EXPECT_EQ(o.usage().output_tokens, 7);
}

TEST(SseObserverTest, OptionalSpaceAfterColonAndDataBeforeEventName) {
  SseObserver o;
  o.Feed("data:{\"usage\":{\"output_tokens\":9}}\nevent:message_delta\n\n");
  EXPECT_EQ(o.usage().output_tokens, 9);
  EXPECT_EQ(o.events(), 1u);
}

TEST(SseObserverTest, EventNameMustMatchExactly) {
  SseObserver o;
  o.Feed("event:  message_delta\ndata: {\"usage\":{\"output_tokens\":9}}\n\n");  // name "
                                                                                 // message_delta"
  o.Feed("event: message_stop \ndata: {}\n\n");
  EXPECT_EQ(o.usage().output_tokens, -1);
  EXPECT_FALSE(o.saw_message_stop());
  EXPECT_EQ(o.events(), 2u);
}

TEST(SseObserverTest, EventsNeedAField) {
  SseObserver o;
  o.Feed("\n\n\r\n: only a comment\n\n");
  EXPECT_EQ(o.events(), 0u);
  o.Feed("id: 1\n\nretry: 10\n\ndata\n\nevent\n\n");
  EXPECT_EQ(o.events(), 4u);
}

TEST(SseObserverTest, ErrorEventType) {
  SseObserver o;
  o.Feed(kStream.substr(0, kStream.find("event: content_block_stop")));
  o.Feed(
      "event: error\r\n"
      R"(data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})"
      "\r\n\r\n");
  EXPECT_TRUE(o.saw_error());
  EXPECT_EQ(o.error_type(), "overloaded_error");
  EXPECT_FALSE(o.saw_message_stop());
  EXPECT_TRUE(o.AtEventBoundary());
}

TEST(SseObserverTest, ErrorEventWithUnparsableData) {
  SseObserver o;
  o.Feed("event: error\ndata: not json\n\n");
  EXPECT_TRUE(o.saw_error());
  EXPECT_EQ(o.error_type(), "");
}

TEST(SseObserverTest, OversizedKeptEventDataIsDropped) {
  // A message_start whose data is over the 1 MiB cap: counted, but its usage is not read.
  std::string big = R"({"type":"message_start","message":{"pad":")";
  big.append(size_t{1} << 20, 'x');
  big.append(R"(","usage":{"input_tokens":5,"output_tokens":1}}})");
  for (size_t piece : {big.size() + 100, size_t{4096}, size_t{1}}) {
    SseObserver o;
    const std::string stream = "event: message_start\ndata: " + big + "\n\n" +
                               "event: message_delta\ndata: {\"usage\":{\"output_tokens\":8}}\n\n";
    size_t max_buffered = 0;
    for (size_t i = 0; i < stream.size(); i += piece) {
      o.Feed(std::string_view(stream).substr(i, piece));
      max_buffered = std::max(max_buffered, o.BufferedBytesForTest());
    }
    EXPECT_TRUE(o.saw_message_start());
    EXPECT_EQ(o.usage().input_tokens, -1) << piece;
    EXPECT_EQ(o.usage().output_tokens, 8) << piece;  // the next event is read normally
    EXPECT_EQ(o.events(), 2u);
    EXPECT_LE(max_buffered, (size_t{1} << 20) + 16) << piece;
    EXPECT_EQ(o.BufferedBytesForTest(), 0u);
  }
}

TEST(SseObserverTest, OversizedMultiLineDataIsDropped) {
  SseObserver o;
  const std::string half(size_t{600} * 1024, 'y');
  o.Feed("event: message_delta\ndata: {\"usage\":{\"output_tokens\":3},\"a\":\"" + half + "\n");
  o.Feed("data: " + half + "\"}\n\n");
  EXPECT_EQ(o.usage().output_tokens, -1);
  EXPECT_EQ(o.events(), 1u);
}

TEST(SseObserverTest, ContentDeltasAreNotBuffered) {
  SseObserver o;
  o.Feed(
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"");
  const std::string chunk(4096, 'z');
  for (int i = 0; i < 1024; ++i) {  // a 4 MiB data line in 4 KiB pieces
    o.Feed(chunk);
    ASSERT_LE(o.BufferedBytesForTest(), 16u);
  }
  o.Feed("\"}}\n\n");
  EXPECT_EQ(o.events(), 1u);
  EXPECT_TRUE(o.AtEventBoundary());
  // Long unknown fields and comments are not buffered either.
  o.Feed(": ");
  o.Feed(chunk);
  o.Feed("\nid: ");
  o.Feed(chunk);
  EXPECT_LE(o.BufferedBytesForTest(), 16u);
  o.Feed("\n\n");
  EXPECT_EQ(o.events(), 2u);
}

TEST(SseObserverTest, OverlongEventNameIsNotTracked) {
  SseObserver o;
  o.Feed("event: message_stop");
  o.Feed(std::string(1000, ' '));
  o.Feed("\ndata: {}\n\n");
  EXPECT_FALSE(o.saw_message_stop());
  EXPECT_EQ(o.events(), 1u);
  EXPECT_EQ(o.BufferedBytesForTest(), 0u);
}

TEST(SseObserverTest, EmptyFeedsChangeNothing) {
  SseObserver o;
  o.Feed("");
  EXPECT_TRUE(o.AtEventBoundary());
  o.Feed("event: message_stop\r");
  o.Feed("");
  o.Feed("\ndata: {}\r");
  o.Feed("");
  o.Feed("\n\r\n");
  EXPECT_TRUE(o.saw_message_stop());
  EXPECT_EQ(o.events(), 1u);
  EXPECT_TRUE(o.AtEventBoundary());
}

TEST(SseObserverTest, MessageStopFillsMissingUsageFromBedrockInvocationMetrics) {
  SseObserver o;
  o.Feed(
      "event: message_start\n"
      R"(data: {"type":"message_start","message":{"usage":{"input_tokens":2095,"output_tokens":1}}})"
      "\n\n"
      "event: message_delta\n"
      R"(data: {"type":"message_delta","usage":{"output_tokens":89}})"
      "\n\n"
      "event: message_stop\n"
      R"(data: {"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":9,)"
      R"("outputTokenCount":9,"invocationLatency":2563,"firstByteLatency":1137,)"
      R"("cacheReadInputTokenCount":512,"cacheWriteInputTokenCount":128}})"
      "\n\n");
  EXPECT_TRUE(o.saw_message_stop());
  // Fields the events carried stay; only the missing ones come from the metrics.
  EXPECT_EQ(o.usage().input_tokens, 2095);
  EXPECT_EQ(o.usage().output_tokens, 89);
  EXPECT_EQ(o.usage().cache_creation_input_tokens, 128);
  EXPECT_EQ(o.usage().cache_read_input_tokens, 512);
}

TEST(SseObserverTest, MessageStopUsageComesBeforeInvocationMetrics) {
  constexpr std::string_view kStopOnly =
      "event: message_stop\n"
      R"(data: {"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":1,)"
      R"("outputTokenCount":2,"cacheReadInputTokenCount":3,"cacheWriteInputTokenCount":4},)"
      R"("usage":{"input_tokens":10,"cache_read_input_tokens":30,"output_tokens":null}})"
      "\n\n";
  // No message_start at all: everything from message_stop, whatever the split.
  for (size_t cut = 0; cut <= kStopOnly.size(); ++cut) {
    SseObserver o;
    o.Feed(kStopOnly.substr(0, cut));
    o.Feed(kStopOnly.substr(cut));
    EXPECT_EQ(o.usage().input_tokens, 10);
    EXPECT_EQ(o.usage().output_tokens, 2);
    EXPECT_EQ(o.usage().cache_creation_input_tokens, 4);
    EXPECT_EQ(o.usage().cache_read_input_tokens, 30);
  }
}

TEST(SseObserverTest, MessageStopDoesNotOverrideKnownUsage) {
  SseObserver o;
  o.Feed(std::string(kStream.substr(0, kStream.rfind("event: message_stop"))) +
         "event: message_stop\n"
         R"(data: {"type":"message_stop","usage":{"input_tokens":1,"output_tokens":2,)"
         R"("cache_creation_input_tokens":3,"cache_read_input_tokens":4},)"
         R"("amazon-bedrock-invocationMetrics":{"inputTokenCount":5}})"
         "\n\n");
  ExpectStreamResult(o);
}

TEST(SseObserverTest, MalformedMessageStopLeavesUsageAlone) {
  for (std::string_view data :
       {R"({"type":"message_stop"})", R"({"type":"message_stop","usage":"x"})", "not json",
        R"({"type":"message_stop","amazon-bedrock-invocationMetrics":[1]})",
        R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":"7"}})"}) {
    SseObserver o;
    o.Feed(
        "event: message_start\n"
        R"(data: {"type":"message_start","message":{"usage":{"input_tokens":5}}})"
        "\n\n");
    o.Feed(std::string("event: message_stop\ndata: ") + std::string(data) + "\n\n");
    EXPECT_TRUE(o.saw_message_stop()) << data;
    EXPECT_EQ(o.usage().input_tokens, 5) << data;
    EXPECT_EQ(o.usage().output_tokens, -1) << data;
    EXPECT_EQ(o.usage().cache_creation_input_tokens, -1) << data;
    EXPECT_EQ(o.usage().cache_read_input_tokens, -1) << data;
  }
}

TEST(SseObserverTest, UsageFromMessageBody) {
  const Usage usage = UsageFromMessageBody(
      R"({"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":)"
      R"("a \"usage\": {\"input_tokens\": 1} trap"},{"type":"tool_use","id":"t","name":"x",)"
      R"("input":{"usage":{"input_tokens":2}}}],"model":"claude","stop_reason":"end_turn",)"
      R"("usage":{"input_tokens":25,"output_tokens":15,"cache_creation_input_tokens":0,)"
      R"("cache_read_input_tokens":null,"cache_creation":{"ephemeral_5m_input_tokens":0},)"
      R"("server_tool_use":null,"service_tier":"standard"}})");
  EXPECT_EQ(usage.input_tokens, 25);
  EXPECT_EQ(usage.output_tokens, 15);
  EXPECT_EQ(usage.cache_creation_input_tokens, 0);
  EXPECT_EQ(usage.cache_read_input_tokens, -1);
}

TEST(SseObserverTest, UsageFromMessageBodyMissingOrInvalid) {
  for (std::string_view body :
       {R"({"type":"message","content":[]})", R"({"usage":"none"})", "not json", "",
        R"([{"usage":{"input_tokens":1}}])", R"({"usage":{"input_tokens":1,)"}) {
    const Usage usage = UsageFromMessageBody(body);
    EXPECT_EQ(usage.input_tokens, -1) << body;
    EXPECT_EQ(usage.output_tokens, -1) << body;
    EXPECT_EQ(usage.cache_creation_input_tokens, -1) << body;
    EXPECT_EQ(usage.cache_read_input_tokens, -1) << body;
  }
}

}  // namespace
}  // namespace ccrelay::http
