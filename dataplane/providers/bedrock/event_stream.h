#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace ccrelay::providers::bedrock {

// The value types of an event-stream header (protocols.md 3.8).
enum class EventStreamHeaderType : uint8_t {
  kBoolTrue = 0,
  kBoolFalse = 1,
  kByte = 2,
  kShort = 3,
  kInteger = 4,
  kLong = 5,
  kByteArray = 6,
  kString = 7,
  kTimestamp = 8,
  kUuid = 9,
};

// One header of a message. Views point into the frame and live as long as the message.
struct EventStreamHeader {
  std::string_view name;
  EventStreamHeaderType type = EventStreamHeaderType::kString;
  // kBoolTrue: 1, kBoolFalse: 0; kByte, kShort, kInteger, kLong: the signed value;
  // kTimestamp: milliseconds since the epoch. 0 for the other types.
  int64_t int_value = 0;
  // kByteArray, kString: the value's bytes (a string is not checked for UTF-8); kUuid: the 16
  // raw bytes. Empty for the other types.
  std::string_view bytes;
};

// One decoded message, valid only during the callback that receives it.
struct EventStreamMessage {
  std::span<const EventStreamHeader> headers;  // in wire order (duplicates kept)
  std::string_view payload;

  // The first header named `name`, or nullptr.
  const EventStreamHeader* Find(std::string_view name) const;
  // The value of the first string header named `name` ("" when absent or of another type).
  std::string_view StringHeader(std::string_view name) const;
};

// Incremental decoder of `application/vnd.amazon.eventstream` (protocols.md 3.8). Feed() takes
// the body in any split. A frame that lies whole inside one Feed() is parsed where it is, without
// a copy; only the incomplete tail of a frame is buffered. Both CRCs are checked before a message
// is delivered. Any framing violation is fatal: the decoder keeps failing with the same status.
class EventStreamDecoder {
 public:
  // Largest message (AWS event stream: 16 MiB total), and largest header block (128 KiB).
  static constexpr uint32_t kMaxMessageBytes = uint32_t{16} << 20;
  static constexpr uint32_t kMaxHeadersBytes = uint32_t{128} << 10;
  // Prelude (total length, headers length, prelude CRC) plus the message CRC.
  static constexpr uint32_t kMinMessageBytes = 16;

  // Receives each complete message. A non-OK status stops decoding and is returned by Feed()
  // (the decoder stays failed with it).
  using MessageHandler = absl::FunctionRef<absl::Status(const EventStreamMessage&)>;

  // Decodes `bytes`, calling `on_message` for each message completed by them, in order.
  absl::Status Feed(std::string_view bytes, MessageHandler on_message);
  // The body is complete: an error if it ended inside a frame ("truncated event stream") or the
  // decoder failed before.
  absl::Status Finish() const;
  // Ends decoding without an error: the rest of the current Feed() and all later input are
  // ignored. May be called from the handler.
  void Stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }

  // Bytes of an incomplete frame currently held.
  size_t BufferedBytes() const { return partial_.size(); }
  // Capacity of the tail buffer (released after an unusually large frame).
  size_t BufferCapacityForTest() const { return partial_.capacity(); }

 private:
  // Validates the 12-byte prelude at `p`; sets *total_length.
  absl::Status CheckPrelude(const unsigned char* p, uint32_t* total_length);
  // Checks the message CRC of the whole frame at `p`, parses it and calls the handler.
  absl::Status DeliverFrame(const unsigned char* p, uint32_t total_length,
                            MessageHandler on_message);
  absl::Status Fail(absl::Status status);

  std::string partial_;                     // the incomplete frame carried between Feed() calls
  uint32_t partial_total_ = 0;              // its total length once its prelude is complete, else 0
  std::vector<EventStreamHeader> headers_;  // reused for every message
  absl::Status status_;
  bool stopped_ = false;
};

}  // namespace ccrelay::providers::bedrock
