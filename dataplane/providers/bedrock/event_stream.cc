#include "dataplane/providers/bedrock/event_stream.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include <zlib.h>

#include "dataplane/common/str.h"

namespace ccrelay::providers::bedrock {

namespace {

constexpr size_t kPreludeBytes = 12;
// A tail buffer that grew past this for one large frame is released once the frame is done.
constexpr size_t kRetainedBufferCapacity = size_t{64} << 10;

uint16_t LoadBe16(const unsigned char* p) {
  return static_cast<uint16_t>((uint32_t{p[0]} << 8) | uint32_t{p[1]});
}

uint32_t LoadBe32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

uint64_t LoadBe64(const unsigned char* p) {
  return (uint64_t{LoadBe32(p)} << 32) | uint64_t{LoadBe32(p + 4)};
}

// zlib's CRC-32 (IEEE, reflected, init and final XOR 0xFFFFFFFF), continuing from `crc`.
uint32_t Crc32(uint32_t crc, const unsigned char* p, size_t n) {
  return static_cast<uint32_t>(crc32(crc, p, static_cast<uInt>(n)));
}

std::string_view View(const unsigned char* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

absl::Status HeaderError(std::string_view what, size_t offset) {
  return absl::InvalidArgumentError(
      common::StrCat("event stream: malformed headers: ", what, " at header offset ", offset));
}

// Parses the header block [p, p + n) into `out` (cleared first).
absl::Status ParseHeaders(const unsigned char* p, size_t n, std::vector<EventStreamHeader>* out) {
  out->clear();
  size_t pos = 0;
  while (pos < n) {
    const size_t entry = pos;
    const size_t name_len = p[pos++];
    if (n - pos < name_len + 1) {
      return HeaderError("name or type cut short", entry);
    }
    EventStreamHeader& h = out->emplace_back();
    h.name = View(p + pos, name_len);
    pos += name_len;
    const uint8_t type = p[pos++];
    const size_t left = n - pos;
    switch (type) {
      case 0:
      case 1:
        h.int_value = type == 0 ? 1 : 0;
        break;
      case 2:
        if (left < 1) {
          return HeaderError("byte value cut short", entry);
        }
        h.int_value = int64_t{p[pos]} - (p[pos] >= 0x80 ? 256 : 0);  // int8, two's complement
        pos += 1;
        break;
      case 3:
        if (left < 2) {
          return HeaderError("short value cut short", entry);
        }
        h.int_value = static_cast<int16_t>(LoadBe16(p + pos));
        pos += 2;
        break;
      case 4:
        if (left < 4) {
          return HeaderError("integer value cut short", entry);
        }
        h.int_value = static_cast<int32_t>(LoadBe32(p + pos));
        pos += 4;
        break;
      case 5:
      case 8:
        if (left < 8) {
          return HeaderError("long or timestamp value cut short", entry);
        }
        h.int_value = static_cast<int64_t>(LoadBe64(p + pos));
        pos += 8;
        break;
      case 6:
      case 7: {
        if (left < 2) {
          return HeaderError("byte array or string length cut short", entry);
        }
        const size_t len = LoadBe16(p + pos);
        if (left - 2 < len) {
          return HeaderError("byte array or string value cut short", entry);
        }
        h.bytes = View(p + pos + 2, len);
        pos += 2 + len;
        break;
      }
      case 9:
        if (left < 16) {
          return HeaderError("uuid value cut short", entry);
        }
        h.bytes = View(p + pos, 16);
        pos += 16;
        break;
      default:
        return HeaderError(common::StrCat("unknown value type ", int{type}), entry);
    }
    h.type = static_cast<EventStreamHeaderType>(type);
  }
  return absl::OkStatus();
}

}  // namespace

const EventStreamHeader* EventStreamMessage::Find(std::string_view name) const {
  for (const EventStreamHeader& h : headers) {
    if (h.name == name) {
      return &h;
    }
  }
  return nullptr;
}

std::string_view EventStreamMessage::StringHeader(std::string_view name) const {
  const EventStreamHeader* h = Find(name);
  return h != nullptr && h->type == EventStreamHeaderType::kString ? h->bytes : std::string_view();
}

absl::Status EventStreamDecoder::Fail(absl::Status status) {
  status_ = std::move(status);
  partial_.clear();
  partial_.shrink_to_fit();
  partial_total_ = 0;
  return status_;
}

absl::Status EventStreamDecoder::CheckPrelude(const unsigned char* p, uint32_t* total_length) {
  const uint32_t total = LoadBe32(p);
  const uint32_t headers = LoadBe32(p + 4);
  const uint32_t expected = LoadBe32(p + 8);
  const uint32_t computed = Crc32(0, p, 8);
  if (expected != computed) {
    return absl::DataLossError(common::StrCat("event stream: prelude CRC mismatch (frame has ",
                                              expected, ", computed ", computed, ")"));
  }
  if (total < kMinMessageBytes) {
    return absl::InvalidArgumentError(common::StrCat(
        "event stream: total length ", total, " is below the minimum of ", kMinMessageBytes));
  }
  if (total > kMaxMessageBytes) {
    return absl::InvalidArgumentError(common::StrCat(
        "event stream: message of ", total, " bytes exceeds the maximum of ", kMaxMessageBytes));
  }
  if (headers > kMaxHeadersBytes) {
    return absl::InvalidArgumentError(common::StrCat("event stream: headers length ", headers,
                                                     " exceeds the maximum of ", kMaxHeadersBytes));
  }
  if (headers > total - kMinMessageBytes) {
    return absl::InvalidArgumentError(common::StrCat("event stream: headers length ", headers,
                                                     " does not fit in a message of ", total,
                                                     " bytes"));
  }
  *total_length = total;
  return absl::OkStatus();
}

absl::Status EventStreamDecoder::DeliverFrame(const unsigned char* p, uint32_t total_length,
                                              MessageHandler on_message) {
  // The prelude CRC (checked equal to the CRC of bytes [0, 8)) seeds the CRC of the rest.
  const uint32_t expected = LoadBe32(p + total_length - 4);
  const uint32_t computed = Crc32(LoadBe32(p + 8), p + 8, total_length - 12);
  if (expected != computed) {
    return absl::DataLossError(common::StrCat("event stream: message CRC mismatch (frame has ",
                                              expected, ", computed ", computed, ")"));
  }
  const uint32_t headers_length = LoadBe32(p + 4);
  if (absl::Status st = ParseHeaders(p + kPreludeBytes, headers_length, &headers_); !st.ok()) {
    return st;
  }
  EventStreamMessage message;
  message.headers = headers_;
  message.payload =
      View(p + kPreludeBytes + headers_length, total_length - kMinMessageBytes - headers_length);
  return on_message(message);
}

absl::Status EventStreamDecoder::Feed(std::string_view bytes, MessageHandler on_message) {
  if (!status_.ok()) {
    return status_;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  if (stopped_ || n == 0) {
    return absl::OkStatus();
  }
  if (!partial_.empty()) {
    // Complete the frame begun in an earlier Feed(): its prelude first, then the rest.
    if (partial_.size() < kPreludeBytes) {
      const size_t take = std::min(kPreludeBytes - partial_.size(), n);
      partial_.append(reinterpret_cast<const char*>(p), take);
      p += take;
      n -= take;
      if (partial_.size() < kPreludeBytes) {
        return absl::OkStatus();
      }
      const auto* prelude = reinterpret_cast<const unsigned char*>(partial_.data());
      if (absl::Status st = CheckPrelude(prelude, &partial_total_); !st.ok()) {
        return Fail(std::move(st));
      }
      partial_.reserve(partial_total_);
    }
    const size_t take = std::min(partial_total_ - partial_.size(), n);
    partial_.append(reinterpret_cast<const char*>(p), take);
    p += take;
    n -= take;
    if (partial_.size() < partial_total_) {
      return absl::OkStatus();
    }
    absl::Status st = DeliverFrame(reinterpret_cast<const unsigned char*>(partial_.data()),
                                   partial_total_, on_message);
    partial_.clear();
    partial_total_ = 0;
    if (partial_.capacity() > kRetainedBufferCapacity) {
      partial_.shrink_to_fit();
    }
    if (!st.ok()) {
      return Fail(std::move(st));
    }
  }
  // Whole frames are parsed where they lie.
  while (n >= kPreludeBytes && !stopped_) {
    uint32_t total = 0;
    if (absl::Status st = CheckPrelude(p, &total); !st.ok()) {
      return Fail(std::move(st));
    }
    if (n < total) {
      partial_.reserve(total);
      partial_total_ = total;
      break;
    }
    if (absl::Status st = DeliverFrame(p, total, on_message); !st.ok()) {
      return Fail(std::move(st));
    }
    p += total;
    n -= total;
  }
  if (n > 0 && !stopped_) {
    partial_.append(reinterpret_cast<const char*>(p), n);
  }
  return absl::OkStatus();
}

absl::Status EventStreamDecoder::Finish() const {
  if (!status_.ok() || stopped_ || partial_.empty()) {
    return status_;
  }
  if (partial_total_ == 0) {
    return absl::DataLossError(
        common::StrCat("truncated event stream: the body ended inside a prelude (", partial_.size(),
                       " of ", kPreludeBytes, " bytes)"));
  }
  return absl::DataLossError(
      common::StrCat("truncated event stream: the body ended inside a frame (", partial_.size(),
                     " of ", partial_total_, " bytes)"));
}

}  // namespace ccrelay::providers::bedrock
