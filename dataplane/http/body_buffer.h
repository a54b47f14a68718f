#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional.hpp>

#include "dataplane/http/request_scan.h"

namespace ccrelay::http {

// A request body's bytes: grows without zero-filling (the bytes are written by the socket read
// right after), always with kScanPadding readable bytes past the end for the JSON scan, and
// reused across requests through a BodyBufferPool (a 200 KB body then costs neither an
// allocation nor page faults).
class BodyBuffer {
 public:
  BodyBuffer() = default;
  BodyBuffer(BodyBuffer&&) noexcept = default;
  BodyBuffer& operator=(BodyBuffer&&) noexcept = default;

  char* data() { return bytes_.get(); }
  const char* data() const { return bytes_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Bytes usable before a reallocation (the padding excluded).
  size_t capacity() const { return capacity_; }
  std::string_view view() const { return {bytes_.get(), size_}; }

  // Room for `n` bytes; existing bytes are kept.
  void Reserve(size_t n);
  // Size `n`; new bytes are not initialised (the caller writes them).
  void ResizeUninitialized(size_t n);
  void Append(const char* p, size_t n);
  void Clear() { size_ = 0; }
  // Frees the memory.
  void Release() {
    bytes_.reset();
    size_ = 0;
    capacity_ = 0;
  }

  absl::StatusOr<RequestInfo> Scan() const {
    return ScanRequestBody(bytes_.get() == nullptr ? "" : bytes_.get(), size_,
                           capacity_ + kScanPadding);
  }

 private:
  std::unique_ptr<char[]> bytes_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// A Beast Body whose value is a BodyBuffer (read side only: the relay parses requests with it
// and never serialises one).
struct BufferBody {
  using value_type = BodyBuffer;

  static std::uint64_t size(const value_type& body) { return body.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>& /*header*/, value_type& body)
        : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, boost::system::error_code& ec) {
      if (length) {
        body_.Reserve(static_cast<size_t>(*length));
      }
      ec = {};
    }

    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
      const size_t n = boost::asio::buffer_size(buffers);
      const size_t at = body_.size();
      body_.ResizeUninitialized(at + n);
      boost::asio::buffer_copy(boost::asio::buffer(body_.data() + at, n), buffers);
      ec = {};
      return n;
    }

    void finish(boost::system::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

// Body buffers of one worker, kept for the next requests (worker thread only: no lock). At most
// kMaxKept buffers of at most kMaxKeptCapacity each are kept; larger ones are freed.
class BodyBufferPool {
 public:
  static constexpr size_t kMaxKept = 64;
  static constexpr size_t kMaxKeptCapacity = size_t{4} << 20;

  BodyBuffer Acquire();
  void Give(BodyBuffer&& buffer);
  size_t kept() const { return kept_.size(); }

 private:
  std::vector<BodyBuffer> kept_;
};

// The same for plain strings a worker's exchanges fill per request (a provider's rewritten
// request body, e.g. Bedrock's): a warm string keeps its capacity, so a large body is not a
// fresh mmap, page faults and munmap every time. Worker thread only.
class StringPool {
 public:
  static constexpr size_t kMaxKept = 64;
  static constexpr size_t kMaxKeptCapacity = size_t{4} << 20;

  // Strings of less capacity than `min_kept_capacity` are not worth keeping; more than
  // `max_kept_capacity`, not worth holding.
  explicit StringPool(size_t min_kept_capacity = 4096, size_t max_kept_capacity = kMaxKeptCapacity)
      : min_kept_capacity_(min_kept_capacity), max_kept_capacity_(max_kept_capacity) {}

  std::string Acquire();
  void Give(std::string&& s);
  size_t kept() const { return kept_.size(); }

 private:
  size_t min_kept_capacity_;
  size_t max_kept_capacity_;
  std::vector<std::string> kept_;
};

}  // namespace ccrelay::http
